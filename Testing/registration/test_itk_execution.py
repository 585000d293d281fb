"""SimpleITK registrations with a Python iteration command: what the command raises, or what a signal handler
hands to ``interrupt``, stops the optimisation and comes out as itself (SimpleITK would raise RuntimeError)."""

import pytest
import SimpleITK as sitk

from CTMRFusionLib.registration import itk_execution


class Stop(Exception):
    pass


def _method() -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-6, numberOfIterations=50)
    method.SetInitialTransform(sitk.TranslationTransform(3, (4.0, -3.0, 2.0)), inPlace=True)
    method.SetInterpolator(sitk.sitkLinear)
    return method


@pytest.fixture(scope="module")
def small_ct(demo_images):
    return sitk.Cast(sitk.Shrink(demo_images[0], [6, 6, 6]), sitk.sitkFloat32)


def test_an_error_in_the_command_stops_the_run_and_comes_out_as_itself(small_ct):
    iterations = []
    method = _method()

    def on_iteration():
        iterations.append(method.GetOptimizerIteration())
        if len(iterations) == 3:
            raise Stop("from the command")

    with pytest.raises(Stop, match="from the command"):
        itk_execution.execute(method, small_ct, small_ct, on_iteration)
    assert len(iterations) == 3


def test_an_interrupt_while_itk_runs_is_raised_at_the_next_iteration(small_ct):
    assert itk_execution.interrupt(Stop("no registration")) is False  # nothing runs: the handler raises itself
    iterations = []
    method = _method()

    def on_iteration():  # stands for a signal handler that runs while ITK computes
        iterations.append(method.GetOptimizerIteration())
        if len(iterations) == 2:
            assert itk_execution.interrupt(Stop("terminated")) is True

    with pytest.raises(Stop, match="terminated"):
        itk_execution.execute(method, small_ct, small_ct, on_iteration)
    assert len(iterations) == 2  # the third iteration event raised it before calling on_iteration
    itk_execution.execute(_method(), small_ct, small_ct, None)  # nothing left pending
