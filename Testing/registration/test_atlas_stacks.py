"""Absolute accuracy on every shared Harvard CT/MR stack (1 × 1 × 5 mm, 8-bit; truth: identity or a known move).

Issue 16's bars: within 2.5 mm mean and 5 mm max of the truth, or no worse than elastix's default rigid
registration on the same input (+0.25 mm; elastix's error comes from the stack benchmark's committed table,
measured on the same inputs, ``support.atlas_stacks.RESULTS_CSV``); never more than 20 mm off (a wrong
orientation); and on an unmoved stack the default ends within 2 mm of where the MI refinement alone goes from
the identity, i.e. the orientation search never makes a good start worse.
"""

import pytest

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.rigid import register_rigid
from support.atlas_stacks import atlas_stacks, body_points, errors, moves, recorded_results, within_bar
from support.ground_truth import move_header
from support.slice_pairing import best_shift, probe

pytestmark = [pytest.mark.slow, pytest.mark.real_data]

WRONG_ORIENTATION_MM = 20.0


#: The shared stacks (../shared/data/harvard_ctmri cases).
CASES = ("2", "20", "28", "32", "33", "34", "37")
#: Stacks where the default's MI optimum is further from the truth than elastix's (docs/benchmarks.md, issue 16
#: stays open for them): they must still never flip, and the bar is expected to fail until the method improves.
#: Stack 32 left this list in session 18 (3.4-3.6 mm on every move, elastix 3.6-3.9 mm).
#: Stack 37's truth is itself in doubt: see test_the_data_itself_pairs_stack_37s_slices_one_slice_off.
OFF_THE_BAR = {
    "37": "MI optimum about 5.3 mm from the truth on every move (z shift ~4 mm); elastix 4.6-17.7 mm; "
    "MI, NGF and CR all pair its MR slices one slice off the atlas's pairing",
}


@pytest.fixture(scope="module")
def stacks():
    return atlas_stacks()


@pytest.fixture(scope="module")
def default_registration(stacks):
    """(case, move number) → (CT→MR matrix of the default registration, the true move, CT body points); each
    registration runs once per module (the unmoved ones serve both tests)."""
    done = {}

    def register(case: str, move_number: int):
        if (case, move_number) not in done:
            ct, mr = stacks[case]
            points = body_points(ct)
            move = moves(case, points, move_number)[move_number]
            matrix = sitk_transform_to_matrix(register_rigid(ct, move_header(mr, move)).transform)
            done[case, move_number] = matrix, move, points
        return done[case, move_number]

    return register


@pytest.mark.parametrize("move_number", [0, 1])
@pytest.mark.parametrize("case", CASES)
def test_stack_registers_within_the_bar_and_never_flips(default_registration, case, move_number):
    """The stack unmoved and under its first seeded move (up to ±30°, ±40 mm): the default registration's
    absolute error over CT body points, beside elastix's on the same input."""
    matrix, move, points = default_registration(case, move_number)
    error = errors(matrix, move, points)
    elastix_mean = recorded_results()[(case, move_number)]["elastix mean mm"]
    assert error.mean() < WRONG_ORIENTATION_MM, f"{error.mean():.1f} mm: a wrong orientation"
    if case in OFF_THE_BAR and not within_bar(error.mean(), error.max(), elastix_mean):
        pytest.xfail(OFF_THE_BAR[case])
    assert within_bar(error.mean(), error.max(), elastix_mean), (
        f"{error.mean():.2f} mean / {error.max():.2f} max (elastix {elastix_mean})"
    )


def test_search_keeps_a_pre_aligned_stack_where_the_fine_stage_alone_ends(stacks, default_registration):
    """On every unmoved stack the default (orientation search) ends within 2 mm (mean over CT body points) of
    the MI refinement started at the identity: the headers' placement is always a candidate."""
    for case, (ct, mr) in stacks.items():
        default, _, points = default_registration(case, 0)
        alone = sitk_transform_to_matrix(register_rigid(ct, mr, RegistrationOptions(initializer="identity")).transform)
        assert errors(default, alone, points).mean() <= 2.0, f"case {case}"


def test_the_data_itself_pairs_stack_37s_slices_one_slice_off(stacks):
    """Without any registration: MI, NGF and the correlation ratio of each MR shifted by whole slices (exact
    resampling, ``support.slice_pairing``). On every other stack at least two of the three prefer the atlas's
    own pairing (shift 0; on stack 32 NGF prefers -1 by 0.001); on stack 37 all three prefer the MR one
    slice (5 mm) further along z, where both elastix and we end (3-4 mm along the slices). The identity
    that the stack benchmark takes as 37's truth is what the data doubts, not the registration."""
    for case in CASES:
        preferred = [best_shift(values) for values in probe(*stacks[case]).values()]
        if case == "37":
            assert preferred == [1, 1, 1], preferred
        else:
            assert preferred.count(0) >= 2, (case, preferred)
