"""CTMRFusion — the Slicer module: a thin Qt panel over the Qt-free logic in ``CTMRFusionLib``.

All computation happens in ``CTMRFusionLib`` (tested without Slicer on slicer-core); this file only binds
the panel (``Resources/UI/CTMRFusion.ui``) to a parameter node, runs the logic with progress and cancel,
and shows results.

Slicer imports this file at every start to discover the module, so at the top it imports only what the
parameter node's choice lists and ranges need; the registration, fusion and display code is imported when the
panel or the logic first uses it.
"""

import importlib.util
import json
import os
import pathlib
import tempfile
import time
from typing import Annotated, Union

import qt
import slicer
import vtk
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CTMRFusionLib.core.progress import ProgressEvent
from CTMRFusionLib.io.sample_data import ATTRIBUTION, CHECKSUMS, demo_pair
from CTMRFusionLib.ml.torchscript import TORCH_REQUIREMENT, torch_is_usable
from CTMRFusionLib.mrml.panel_fields import CHOICES, RANGES, preset_values, registration_options
from CTMRFusionLib.registration.options import write_preset_file


class CTMRFusion(ScriptedLoadableModule):
    """Module metadata and sample-data registration."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CT-MR Fusion"
        self.parent.categories = ["Registration"]
        self.parent.dependencies = []
        self.parent.contributors = ["CTMRFusion developers"]
        self.parent.helpText = (
            "Rigidly register an MR onto a CT (Euler3D, Mattes mutual information, orientation search for "
            "large misalignments), check it with landmark errors, and show both together. "
            'See the <a href="https://github.com/ctmrfusion/CTMRFusion/blob/main/docs/user_guide.md">user guide</a>.'
        )
        self.parent.acknowledgementText = ATTRIBUTION
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Register the bundled MRI-DIR pair with the Sample Data module (category CTMRFusion)."""
    import SampleData  # noqa: PLC0415 — a Slicer module, importable once Slicer has started

    pair = demo_pair()
    for name, path in (("CTMRFusionCT", pair.ct), ("CTMRFusionMR", pair.mr)):
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="CTMRFusion",
            sampleName=name,
            uris=path.as_uri(),
            fileNames=path.name,
            nodeNames=name,
            checksums=f"SHA256:{CHECKSUMS[path.name]}",
            thumbnailFileName=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "CTMRFusion.png"),
        )


@parameterNodeWrapper
class CTMRFusionParameterNode:
    """All panel state. Choices and ranges come from the logic (``CTMRFusionLib.mrml.panel_fields``): the
    combo boxes list what the logic accepts, the spin boxes take the options' own ranges. Units: opacity 0–1,
    checkerboard square mm, sampling 0–1 (share of the CT voxels the metric samples)."""

    ctVolume: slicer.vtkMRMLScalarVolumeNode
    mrVolume: slicer.vtkMRMLScalarVolumeNode
    # Masks: label maps or volumes (non-zero = use), or segmentations (visible segments), or none. None must be a
    # member: Slicer's UnionSerializer writes the first member's default (None) when it creates the node, and
    # can write None only through a NoneType member.
    ctMask: Union[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSegmentationNode, None]  # noqa: UP007
    mrMask: Union[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLSegmentationNode, None]  # noqa: UP007
    initialTransform: slicer.vtkMRMLLinearTransformNode
    preset: Annotated[str, Choice(CHOICES["preset"])] = "default"
    interpolator: Annotated[str, Choice(CHOICES["interpolator"])] = "sinc"
    initializer: Annotated[str, Choice(CHOICES["initializer"])] = "search"
    histogramBins: Annotated[int, WithinRange(*RANGES["histogramBins"])] = 64
    samplingPercentage: Annotated[float, WithinRange(*RANGES["samplingPercentage"])] = 0.10
    iterations: Annotated[int, WithinRange(*RANGES["iterations"])] = 200
    userPresetFile: pathlib.Path  # a JSON preset file: the options start from it instead of ``preset``
    outputTransform: slicer.vtkMRMLLinearTransformNode
    outputVolume: slicer.vtkMRMLScalarVolumeNode
    dicomExportFolder: str = ""  # where Export to DICOM writes its folder (empty: Slicer's DICOM database)
    resampleMr: bool = True
    mrUnderTransform: bool = False
    ctLandmarks: slicer.vtkMRMLMarkupsFiducialNode
    mrLandmarks: slicer.vtkMRMLMarkupsFiducialNode
    displayMode: Annotated[str, Choice(CHOICES["displayMode"])] = "blend"
    opacity: Annotated[float, WithinRange(*RANGES["opacity"])] = 0.5
    checkerSquareMm: Annotated[float, WithinRange(*RANGES["checkerSquareMm"])] = 20.0
    fusionMethod: Annotated[str, Choice(CHOICES["fusionMethod"])] = "unet"
    fusionDevice: Annotated[str, Choice(CHOICES["fusionDevice"])] = "auto"
    fusedVolume: slicer.vtkMRMLScalarVolumeNode


class CTMRFusionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Panel: Inputs, Registration, Outputs, Landmarks, Display, Fusion."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = None  # "registration" or "fusion" while a job runs
        self._job = None  # its worker process (RegistrationJob or FusionJob)
        self._jobTimer = None
        self._jobDone = None
        self._lastLogged = None
        self._shownPreset = None  # the preset whose values the advanced fields were last set from
        self._shownUserPreset = None  # the same for a preset file

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CTMRFusion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CTMRFusionLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.registerButton.connect("clicked(bool)", self.onRegisterButton)
        self.ui.computeTreButton.connect("clicked(bool)", self.onComputeTre)
        self.ui.applyDisplayButton.connect("clicked(bool)", self.onApplyDisplay)
        self.ui.fuseButton.connect("clicked(bool)", self.onFuseButton)
        self.ui.savePresetButton.connect("clicked(bool)", self.onSavePreset)
        self.ui.exportDicomButton.connect("clicked(bool)", self.onExportDicom)
        self.ui.dicomExportBrowseButton.connect("clicked(bool)", self.onBrowseDicomFolder)
        self.initializeParameterNode()

    def cleanup(self):
        """Slicer is quitting or unloading the module: a running job is stopped (all its processes) first."""
        if self._job is not None:
            self._cancelJob("Cancelled: the module was closed.")
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event):
        # The job's inputs and outputs are leaving with the scene: stop it, so nothing lands in the next scene.
        if self._job is not None:
            self._cancelJob("Cancelled: the scene was closed.")
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.ctVolume:
            self._parameterNode.ctVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # A stored node keeps its advanced values; they are reset only when the user picks another preset.
            self._shownPreset = self._parameterNode.preset
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._updateButtons()

    def _onParameterNodeModified(self, caller=None, event=None):
        """A new preset puts its values into the advanced fields; the user's later edits override them."""
        p = self._parameterNode
        if p and p.preset != self._shownPreset:
            self._shownPreset = p.preset
            p.userPresetFile = pathlib.Path()  # choosing a bundled preset leaves a preset file
            for name, value in preset_values(p.preset).items():
                setattr(p, name, value)
        if p and self._userPreset() != self._shownUserPreset:
            self._shownUserPreset = self._userPreset()
            if self._shownUserPreset:
                with slicer.util.tryWithErrorDisplay("The preset file could not be used.", waitCursor=True):
                    for name, value in preset_values(self._shownUserPreset).items():  # reads and validates it
                        setattr(p, name, value)
        self._updateButtons()

    def _updateButtons(self, caller=None, event=None):
        p = self._parameterNode
        running = self._running is not None
        ready = bool(p and p.ctVolume and p.mrVolume and p.ctVolume != p.mrVolume)
        self.ui.registerButton.enabled = self._running == "registration" or (ready and not running)
        self.ui.registerButton.text = "Cancel" if self._running == "registration" else "Register"
        self.ui.fuseButton.enabled = self._running == "fusion" or bool(
            not running and p and p.ctVolume and (p.outputVolume or p.mrVolume)
        )
        self.ui.fuseButton.text = "Cancel" if self._running == "fusion" else "Fuse"
        self.ui.computeTreButton.enabled = bool(p and p.ctLandmarks and p.mrLandmarks) and not running
        self.ui.applyDisplayButton.enabled = bool(p and p.ctVolume and (p.outputVolume or p.mrVolume)) and not running
        self.ui.exportDicomButton.enabled = (
            bool(p and p.ctVolume and p.outputTransform and p.outputVolume) and not running
        )
        # Inputs, options and outputs stay as they were while a job uses them.
        for name in (
            "inputsCollapsibleButton",
            "outputsCollapsibleButton",
            "advancedGroupBox",
            "preset",
            "interpolator",
        ):
            getattr(self.ui, name).enabled = not running

    def _options(self):
        """The chosen preset's options; the advanced fields override it only where the user changed them."""
        p = self._parameterNode
        advanced = {"histogramBins": p.histogramBins, "samplingPercentage": p.samplingPercentage,
                    "iterations": p.iterations}  # fmt: skip
        return registration_options(self._userPreset() or p.preset, p.interpolator, p.initializer, advanced)

    def _userPreset(self) -> str | None:
        """The preset file chosen in Advanced, if it names a JSON file (an empty path edit reads as '.')."""
        path = self._parameterNode.userPresetFile if self._parameterNode else None
        return str(path) if path and str(path).lower().endswith(".json") and path.is_file() else None

    def onSavePreset(self):
        path = qt.QFileDialog.getSaveFileName(self.parent, "Save registration preset", "", "Preset (*.json)")
        if path:
            with slicer.util.tryWithErrorDisplay("The preset could not be saved.", waitCursor=True):
                write_preset_file(
                    self._options(), path if path.endswith(".json") else path + ".json", "saved from Slicer"
                )

    def _onProgress(self, event):
        self.ui.progressBar.value = int(100 * event.fraction)
        metric = "" if event.metric != event.metric else f", MI {event.metric:.4f}"
        self.ui.statusLabel.text = f"{event.stage}: {event.message}{metric}"

    def _startJob(self, kind: str, job, onDone) -> None:
        """Run ``job`` (a started worker process: registration or fusion) while the panel stays responsive: a
        timer polls it, its button reads Cancel, the inputs are locked; ``onDone(job)`` stores the result."""
        self._job, self._jobDone, self._running, self._lastLogged = job, onDone, kind, None
        self.ui.logTextEdit.clear()
        self.ui.statusLabel.text = f"{kind.capitalize()} running in a worker process…"
        self._updateButtons()
        self._jobTimer = qt.QTimer()
        self._jobTimer.setInterval(100)
        self._jobTimer.connect("timeout()", self._pollJob)
        self._jobTimer.start()

    def _pollJob(self):
        """Show the worker's progress and log; when it has ended, store its result (or show why it failed)."""
        job = self._job
        if job is None:  # cancelled between two timer events
            return
        for item in job.poll():
            if isinstance(item, ProgressEvent):
                self._onProgress(item)
                if item.message and item.message != self._lastLogged:  # a new stage or level
                    self._lastLogged = item.message
                    self.ui.logTextEdit.appendPlainText(f"{item.stage}: {item.message}")
            else:
                self.ui.logTextEdit.appendPlainText(item)
        if job.running:
            return
        onDone, kind = self._jobDone, self._running
        self._endJob(f"{kind.capitalize()} failed; see the message.")
        with slicer.util.tryWithErrorDisplay(f"{kind.capitalize()} failed.", waitCursor=True):
            onDone(job)

    def _endJob(self, status: str) -> None:
        if self._jobTimer is not None:
            self._jobTimer.stop()
        self._job, self._jobTimer, self._jobDone, self._running = None, None, None, None
        self.ui.statusLabel.text = status
        self._updateButtons()

    def _cancelJob(self, status: str = "Cancelled; nothing was changed.") -> None:
        job = self._job
        self._endJob(status)  # the timer stops first: no poll sees the job half-cancelled
        job.cancel()

    def onRegisterButton(self):
        """Start the registration in a worker process (the GUI stays responsive); pressed again, cancel it."""
        if self._job is not None:
            self._cancelJob()
            return
        from CTMRFusionLib.mrml.registration_job import RegistrationJob  # noqa: PLC0415 — see the module docstring

        if self._parameterNode.initializer == "deep" and not self._torchAvailable("The deep initializer"):
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Registration could not start.", waitCursor=True):
            job = RegistrationJob(
                self.logic,
                p.ctVolume,
                p.mrVolume,
                self._options(),
                ctMaskNode=p.ctMask,
                mrMaskNode=p.mrMask,
                initialTransformNode=p.initialTransform,
                ctLandmarksNode=p.ctLandmarks,
                mrLandmarksNode=p.mrLandmarks,
                outputTransformNode=p.outputTransform,
                outputVolumeNode=p.outputVolume if p.resampleMr else None,
                createOutputVolume=p.resampleMr,
            ).start()
            self._startJob("registration", job, self._registrationDone)

    def _registrationDone(self, job):
        """Store the finished registration: outputs, TRE, the per-level trace in the log, the blend view."""
        p = self._parameterNode
        result = job.finish()
        p.outputTransform = result.transformNode
        if result.volumeNode is not None:
            p.outputVolume = result.volumeNode
        if p.mrUnderTransform:  # the original MR, shown on the CT without resampling
            p.mrVolume.SetAndObserveTransformNodeID(result.transformNode.GetID())
        report = result.report
        self.ui.statusLabel.text = f"Done in {report['elapsed_seconds']:.1f} s, MI {report['metric']:.4f}"
        confidence = report.get("confidence") or {}
        self.ui.statusLabel.toolTip = "\n".join(confidence.get("reasons", []))
        if confidence.get("level") == "low":  # the registration says it may be wrong: say so beside the result
            self.ui.statusLabel.text += " — LOW CONFIDENCE: check the alignment before use (hover for why)"
            self.ui.logTextEdit.appendPlainText("warning: low confidence: " + "; ".join(confidence["reasons"]))
        for number, level in enumerate(report.get("levels", []), start=1):  # the per-level MI trace
            self.ui.logTextEdit.appendPlainText(f"level {number}: {json.dumps(level)}")
        if result.tre is not None:  # measured by the worker where the MR and its landmarks were shown
            self._showTre(result.tre)
        from CTMRFusionLib.mrml import display  # noqa: PLC0415 — see the module docstring

        display.set_mode("blend", p.ctVolume, result.volumeNode or p.mrVolume, p.opacity)

    def onFuseButton(self):
        """Fuse the CT with the registered MR (the Outputs volume, else the MR as shown) into fusedVolume, in a
        worker process; pressed again, cancel it."""
        if self._job is not None:
            self._cancelJob()
            return
        from CTMRFusionLib.mrml.fusion_job import FusionJob  # noqa: PLC0415 — see the module docstring
        from CTMRFusionLib.mrml.logic import FusionOptions  # noqa: PLC0415

        if self._parameterNode.fusionMethod == "unet" and not self._torchAvailable("The U-Net fusion"):
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Fusion could not start.", waitCursor=True):
            options = FusionOptions(method=p.fusionMethod, device=p.fusionDevice)
            job = FusionJob(self.logic, p.ctVolume, p.outputVolume or p.mrVolume, p.fusedVolume, options).start()
            self._startJob("fusion", job, self._fusionDone)

    def _fusionDone(self, job):
        """Store the finished fusion and show it."""
        p = self._parameterNode
        fused = job.finish()
        p.fusedVolume = fused
        self.ui.statusLabel.text = f"Fused with {p.fusionMethod}: {fused.GetName()}"
        slicer.util.setSliceViewerLayers(background=fused, foreground=None, fit=True)

    def _torchAvailable(self, purpose: str) -> bool:
        """PyTorch for the networks, at least TORCH_REQUIREMENT: installed through the PyTorch extension's
        PyTorchUtils (which picks the CPU or CUDA build) after asking; never a plain, unpinned pip install."""
        if torch_is_usable():
            return True
        try:
            import PyTorchUtils  # noqa: PLC0415 — the PyTorch extension, a dependency of this one
        except ImportError:
            slicer.util.errorDisplay(
                f"{purpose} needs PyTorch {TORCH_REQUIREMENT}. Install the 'PyTorch' extension from the Extensions "
                "Manager and restart Slicer (the search initializer and the classic fusion methods work without it)."
            )
            return False
        if not slicer.util.confirmOkCancelDisplay(
            f"{purpose} needs PyTorch {TORCH_REQUIREMENT}, which is not installed in Slicer. Install it now? "
            "(Several hundred MB; the search initializer and the classic fusion methods work without it.)"
        ):
            return False
        with slicer.util.tryWithErrorDisplay("PyTorch could not be installed.", waitCursor=True):
            PyTorchUtils.PyTorchUtilsLogic().installTorch(
                askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT
            )
        importlib.invalidate_caches()
        return torch_is_usable()

    def onBrowseDicomFolder(self):
        folder = qt.QFileDialog.getExistingDirectory(
            self.parent, "DICOM export folder", self._parameterNode.dicomExportFolder
        )
        if folder:
            self._parameterNode.dicomExportFolder = folder

    def onExportDicom(self):
        """Export the registration and the Registered MR as DICOM: into a new folder under the DICOM folder, or
        (no folder given) into Slicer's DICOM database, which also tells where the CT's and MR's files are."""
        p = self._parameterNode
        database = getattr(slicer, "dicomDatabase", None)
        database = database if database is not None and database.isOpen else None
        chosen = p.dicomExportFolder.strip() or None
        with slicer.util.tryWithErrorDisplay("DICOM export failed.", waitCursor=True):
            if chosen is None and database is None:
                raise ValueError("Choose a DICOM folder to export into (no DICOM database is open).")
            parent = pathlib.Path(chosen or tempfile.mkdtemp(prefix="CTMRFusion-", dir=slicer.app.temporaryPath))
            folder = parent / time.strftime("CTMRFusion-DICOM-%Y%m%d-%H%M%S")
            summary = self.logic.exportRegistrationToDicom(
                p.ctVolume,
                p.mrVolume,
                p.outputTransform,
                p.outputVolume,
                folder,
                database.fileForInstance if database is not None else None,
                p.interpolator,
                p.fusedVolume,
                p.fusionMethod,
            )
            where = str(folder)
            if chosen is None:
                from DICOMLib import DICOMUtils  # noqa: PLC0415 — Slicer's DICOM module, present with a database

                DICOMUtils.importDicom(str(folder))
                where = "the DICOM database"
            images = summary["mr_on_ct"]["images"]
            fused = " and the fused series" if "fused" in summary else ""
            self.ui.statusLabel.text = f"Exported a Spatial Registration, {images} MR images{fused} to {where}"
            for warning in summary["warnings"]:
                self.ui.logTextEdit.appendPlainText("warning: " + warning)

    def onComputeTre(self):
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Landmark error could not be computed.", waitCursor=True):
            self._showTre(self.logic.computeTRE(p.ctLandmarks, p.mrLandmarks, p.outputTransform))

    def _showTre(self, tre):
        from CTMRFusionLib.mrml.tables import tre_table_node  # noqa: PLC0415 — see the module docstring
        from CTMRFusionLib.registration.tre import summary_line  # noqa: PLC0415

        self.ui.treTableView.setMRMLTableNode(tre_table_node(slicer.mrmlScene, tre))
        self.ui.treSummaryLabel.text = "Landmark TRE " + summary_line(tre.before, tre.after)

    def onApplyDisplay(self):
        from CTMRFusionLib.mrml import display  # noqa: PLC0415 — see the module docstring

        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Display mode could not be applied.", waitCursor=True):
            display.set_mode(p.displayMode, p.ctVolume, p.outputVolume or p.mrVolume, p.opacity, p.checkerSquareMm)


class CTMRFusionLogic(ScriptedLoadableModuleLogic):
    """The Qt-free ``CTMRFusionLib.mrml.logic.CTMRFusionLogic`` on Slicer's scene, plus the parameter node.

    Console use: ``slicer.util.getModuleLogic("CTMRFusion").registerVolumes(ctVolumeNode=..., ...)``. Every method
    of the library logic (registerVolumes, fuseVolumes, computeTRE, storeRegistration, storeFusion) is available
    here; the library logic is made once, on first use, on ``slicer.mrmlScene``.
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self._library = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._library is None:
            from CTMRFusionLib.mrml.logic import CTMRFusionLogic as LibraryLogic  # noqa: PLC0415 — module docstring

            self._library = LibraryLogic(slicer.mrmlScene)
        return getattr(self._library, name)

    def getParameterNode(self):
        return CTMRFusionParameterNode(super().getParameterNode())


class CTMRFusionTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer on the bundled sample pair."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        tests = [
            self.test_registers_sample_pair_within_2_5_mm,
            self.test_blend_mode_sets_purple_ct_and_green_mr_layers,
            self.test_panel_registers_the_sample_pair,
        ]
        if importlib.util.find_spec("torch") is not None:
            tests.append(self.test_deep_initializer_corrects_a_given_start)
        for test in tests:
            self.setUp()
            test()

    def _loadSample(self):
        pair = demo_pair()
        ct = slicer.util.loadVolume(str(pair.ct))
        mr = slicer.util.loadVolume(str(pair.mr))
        ctPoints = slicer.util.loadMarkups(str(pair.ct_landmarks))
        mrPoints = slicer.util.loadMarkups(str(pair.mr_landmarks))
        return ct, mr, ctPoints, mrPoints

    def test_registers_sample_pair_within_2_5_mm(self):
        self.delayDisplay("Registering the sample pair")
        ct, mr, ctPoints, mrPoints = self._loadSample()
        result = CTMRFusionLogic().registerVolumes(
            ctVolumeNode=ct, mrVolumeNode=mr, ctLandmarksNode=ctPoints, mrLandmarksNode=mrPoints
        )
        self.assertGreater(result.tre.before["mean_mm"], 95.0)
        self.assertLessEqual(result.tre.after["mean_mm"], 2.5)
        self.delayDisplay("Fusing the registered pair (max rule)")
        from CTMRFusionLib.mrml.logic import FusionOptions  # noqa: PLC0415 — see the module docstring

        fused = CTMRFusionLogic().fuseVolumes(ct, result.volumeNode, options=FusionOptions(method="max"))
        self.assertEqual(fused.GetImageData().GetDimensions(), ct.GetImageData().GetDimensions())
        self.assertLessEqual(fused.GetImageData().GetScalarRange()[1], 255.0)
        self.delayDisplay("Test passed")

    def test_deep_initializer_corrects_a_given_start(self):
        """Start: the 180°-about-A–P flip (what the FFS/HFS headers imply); the network corrects it, MI ends."""
        self.delayDisplay("Registering with the deep initializer")
        ct, mr, ctPoints, mrPoints = self._loadSample()
        start = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "flip start")
        bounds = [0.0] * 6
        ct.GetRASBounds(bounds)
        center = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
        flip = vtk.vtkTransform()
        flip.Translate(center)
        flip.RotateY(180.0)
        flip.Translate([-c for c in center])
        start.SetMatrixTransformFromParent(flip.GetMatrix())
        result = CTMRFusionLogic().registerVolumes(
            ctVolumeNode=ct,
            mrVolumeNode=mr,
            initialTransformNode=start,
            ctLandmarksNode=ctPoints,
            mrLandmarksNode=mrPoints,
            createOutputVolume=False,
            initializer="deep",
        )
        self.assertEqual(result.registration.initializer, "given+deep")
        self.assertLessEqual(result.tre.after["mean_mm"], 3.0)
        self.delayDisplay("Test passed")

    def test_blend_mode_sets_purple_ct_and_green_mr_layers(self):
        from CTMRFusionLib.mrml import display  # noqa: PLC0415 — see the module docstring

        ct, mr, _, _ = self._loadSample()
        display.show_blend(ct, mr, 0.4)
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        self.assertEqual(composite.GetBackgroundVolumeID(), ct.GetID())
        self.assertEqual(composite.GetForegroundVolumeID(), mr.GetID())
        self.assertAlmostEqual(composite.GetForegroundOpacity(), 0.4)
        self.delayDisplay("Test passed")

    def test_panel_registers_the_sample_pair(self):
        """The module's own panel as a user drives it: open the module, pick the pair and the fast preset,
        press Register; the panel's parameter node gets the transform and the landmark error is computed."""
        self.delayDisplay("Registering through the panel")
        ct, mr, ctPoints, mrPoints = self._loadSample()
        slicer.util.selectModule("CTMRFusion")
        widget = slicer.util.getModuleWidget("CTMRFusion")
        parameters = widget._parameterNode
        parameters.ctVolume, parameters.mrVolume = ct, mr
        parameters.ctLandmarks, parameters.mrLandmarks = ctPoints, mrPoints
        parameters.preset = "fast"
        self.assertEqual(widget.ui.preset.currentText, "fast")
        self.assertAlmostEqual(parameters.samplingPercentage, 0.05)  # the preset's value, shown in the panel
        self.assertTrue(widget.ui.registerButton.enabled)
        widget.ui.registerButton.click()  # starts the worker process; the panel polls it from a timer
        deadline = time.time() + 600
        while widget._job is not None and time.time() < deadline:
            slicer.app.processEvents()
            time.sleep(0.05)
        self.assertIsNone(widget._job)
        self.assertIsNotNone(parameters.outputTransform)
        self.assertIsNotNone(parameters.outputVolume)
        tre = widget.logic.computeTRE(ctPoints, mrPoints, parameters.outputTransform)
        self.assertLessEqual(tre.after["mean_mm"], 3.5)
        self.assertIn("Done", widget.ui.statusLabel.text)
        self.delayDisplay("Test passed")
