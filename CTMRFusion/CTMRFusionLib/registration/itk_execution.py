"""Running a SimpleITK registration method with a Python iteration command, without losing what it raises.

SimpleITK calls the command from C++; an exception raised in it is printed and replaced by a RuntimeError.
A signal that arrives while ITK computes is handled when the command is next entered, before any of its
code runs, so a signal handler that raises there cannot be caught by the command either: handlers call
:func:`interrupt` instead, which has the registration raise their exception as itself.
"""

from __future__ import annotations

from collections.abc import Callable

import SimpleITK as sitk

_running = 0
_pending: list[BaseException] = []


def interrupt(error: BaseException) -> bool:
    """For a signal handler: if a registration is running, have it stop and raise ``error`` as itself (at its
    next iteration, or when ITK returns) and answer True; otherwise answer False (the handler raises it)."""
    if _running:
        _pending.append(error)
    return bool(_running)


def execute(method: sitk.ImageRegistrationMethod, fixed, moving, on_iteration: Callable[[], None] | None) -> None:
    """``method.Execute(fixed, moving)`` with ``on_iteration`` (no arguments) called at every iteration.

    An exception raised inside ``on_iteration`` (a cancel, a progress callback's error) or passed to
    :func:`interrupt` stops the optimisation and is raised here as itself. Other errors of ``Execute`` (too
    few samples overlap, say) come out unchanged."""
    global _running
    raised: list[BaseException] = []

    def command() -> None:
        try:
            if _pending:
                raise _pending.pop(0)
            if on_iteration is not None:
                on_iteration()
        except BaseException as error:  # kept and raised again below, never swallowed
            raised.append(error)
            method.StopRegistration()

    method.AddCommand(sitk.sitkIterationEvent, command)
    _running += 1
    try:
        method.Execute(fixed, moving)
    except RuntimeError:
        if raised:
            raise raised[0] from None
        raise
    finally:
        _running -= 1
    if not raised and _pending:  # the signal came while ITK computed, after the last iteration
        raised.append(_pending.pop(0))
    if raised:
        raise raised[0]
