"""registerVolumes and fuseVolumes in a worker process, on a real slicer-core scene: progress streams while
they run, the results equal the in-process calls', and cancel leaves the scene exactly as it was."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.progress import Cancelled, ProgressEvent
from CTMRFusionLib.mrml import bridge
from CTMRFusionLib.mrml.logic import CTMRFusionLogic
from CTMRFusionLib.mrml.registration_job import RegistrationJob
from CTMRFusionLib.registration.options import RegistrationOptions
from support.mrml_nodes import markups_node, volume_node

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(scene, demo_images, sample):
    ct_image, mr_image = demo_images
    ct = volume_node(scene, sitk.Shrink(ct_image, [2, 2, 2]), "CT")
    mr = volume_node(scene, sitk.Shrink(mr_image, [2, 2, 2]), "MR")
    landmarks = markups_node(scene, sample.ct_landmarks, "CT-L"), markups_node(scene, sample.mr_landmarks, "MR-L")
    return ct, mr, landmarks


def _drive(job, timeout=300.0) -> list:
    """Poll as a panel's timer does, until the worker ends."""
    items, deadline = [], time.monotonic() + timeout
    while job.running and time.monotonic() < deadline:
        items += job.poll()
        time.sleep(0.05)
    return items


@pytest.fixture
def one_itk_thread(monkeypatch):
    """ITK on one thread here and in the worker it starts (the environment it inherits): the registration is
    then bit-identical run to run (docs/registration.md, Reproducibility)."""
    monkeypatch.setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    yield
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def test_the_worker_streams_progress_and_equals_the_in_process_result(scene, nodes, one_itk_thread):
    ct, mr, (ct_points, mr_points) = nodes
    options = RegistrationOptions.from_preset("fast")
    logic = CTMRFusionLogic(scene)
    job = RegistrationJob(logic, ct, mr, options, ctLandmarksNode=ct_points, mrLandmarksNode=mr_points).start()
    items = _drive(job)
    result = job.finish()
    events = [item for item in items if isinstance(item, ProgressEvent)]
    assert {e.stage for e in events} >= {"register", "resample"}
    assert any(np.isfinite(e.metric) for e in events if e.stage == "register")  # the per-level MI trace
    assert result.report["tre"]["after"]["mean_mm"] < result.report["tre"]["before"]["mean_mm"] - 50

    direct = logic.registerVolumes(ct, mr, options=options, ctLandmarksNode=ct_points, mrLandmarksNode=mr_points)
    # The same computation in both processes, on one ITK thread each: the same bits.
    assert result.transform.GetParameters() == direct.transform.GetParameters()
    assert result.report["tre"]["after"]["mean_mm"] == direct.tre.after["mean_mm"]
    job_volume = sitk.GetArrayFromImage(bridge.volume_node_to_sitk(result.volumeNode))
    direct_volume = sitk.GetArrayFromImage(bridge.volume_node_to_sitk(direct.volumeNode))
    np.testing.assert_array_equal(job_volume, direct_volume)
    assert job.folder is not None and not job.folder.exists()


def test_cancel_stops_the_worker_and_leaves_the_scene_as_it_was(scene, nodes):
    ct, mr, _ = nodes
    count = scene.GetNumberOfNodes()
    job = RegistrationJob(CTMRFusionLogic(scene), ct, mr, RegistrationOptions.from_preset("fine")).start()
    deadline = time.monotonic() + 120
    while not any(isinstance(i, ProgressEvent) and i.stage == "register" for i in job.poll()):
        assert time.monotonic() < deadline and job.running, job.log
        time.sleep(0.05)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 10 and not job.running
    assert not job.folder.exists()
    with pytest.raises(Cancelled):
        job.finish()
    assert scene.GetNumberOfNodes() == count
    assert mr.GetTransformNodeID() is None


def test_a_failing_worker_reports_its_reason(scene, nodes):
    ct, _, _ = nodes
    empty = volume_node(scene, sitk.Image([20, 20, 20], sitk.sitkInt16), "empty")
    count = scene.GetNumberOfNodes()
    job = RegistrationJob(CTMRFusionLogic(scene), ct, empty, RegistrationOptions.from_preset("fast")).start()
    _drive(job)
    with pytest.raises(ValueError, match="is empty: every voxel has the value 0"):
        job.finish()
    assert scene.GetNumberOfNodes() == count


def test_fusion_in_a_worker_equals_fuse_volumes_in_process(scene, nodes):
    from CTMRFusionLib.mrml.fusion_job import FusionJob
    from CTMRFusionLib.mrml.logic import FusionOptions

    ct, mr, _ = nodes
    logic = CTMRFusionLogic(scene)
    options = FusionOptions(method="gff")
    job = FusionJob(logic, ct, mr, None, options).start()
    items = _drive(job)
    fused_node = job.finish()
    assert any(isinstance(i, ProgressEvent) and i.stage == "fuse" for i in items)
    direct = logic.fuseVolumes(ct, mr, options=options)
    worker = sitk.GetArrayFromImage(bridge.volume_node_to_sitk(fused_node))
    in_process = sitk.GetArrayFromImage(bridge.volume_node_to_sitk(direct))
    assert worker.shape == in_process.shape and np.abs(worker - in_process).max() < 1e-3
    assert worker.std() > 10  # a real fused image on the 0–255 scale
