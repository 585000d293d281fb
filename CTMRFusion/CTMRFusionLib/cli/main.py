"""``ctmrfusion``: the command line's entry point, one subcommand per module of this package.

Each subcommand module has ``add_parser(commands)`` and ``run(args)``; :func:`installed_commands` is the dispatch
table. A command line that names its subcommand imports that subcommand's module alone (start-up is part of every
run's wall time); ``ctmrfusion --help`` and anything else import them all. A
subcommand whose module is not installed is left out: the Slicer extension ships ``register`` and ``fuse`` (what its
worker runs), not the training, batch, snapshot and demo commands.

Exit codes: 0 success; 2 anticipated failure (bad input, unreadable or unwritable file, a check that fails: one
line says which); 3 ``register --strict`` when the result's confidence is low (the outputs are written; without
``--strict`` one ``ctmrfusion: warning:`` line says so and the exit is 0); 1 an unexpected error, i.e. a bug (the
traceback and a request to report it), and for ``batch`` also when some case failed; 130 interrupted (Ctrl-C);
143 terminated (SIGTERM). Outputs are written atomically, so none of these leaves a partial file.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys
import threading
import traceback
import warnings

from CTMRFusionLib import __version__
from CTMRFusionLib.core.commands import ERROR_PREFIX
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.process_tree import watch_lifeline
from CTMRFusionLib.core.threads import use_passive_waits
from CTMRFusionLib.io.landmark_files import LandmarkError
from CTMRFusionLib.registration import itk_execution

#: The subcommands, in the order ``--help`` lists them; ``train-fusion`` is implemented by ``cli/train_fusion.py``.
SUBCOMMANDS = ("register", "snapshot", "fuse", "train-fusion", "train-registration", "batch", "demo")


def installed_commands(names=SUBCOMMANDS) -> dict:
    """Subcommand name → module, for those of ``names`` whose module is installed."""
    commands = {}
    for name in names:
        qualified = f"{__package__}.{name.replace('-', '_')}"
        if importlib.util.find_spec(qualified) is not None:
            commands[name] = importlib.import_module(qualified)
    return commands


def commands_for(argv: list[str]) -> dict:
    """The subcommand modules a command line needs: the one its first argument names, else all of them."""
    if argv and argv[0] in SUBCOMMANDS:
        return installed_commands(argv[:1]) or installed_commands()
    return installed_commands()


def build_parser(commands: dict | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctmrfusion", description="CT–MR registration and fusion.")
    parser.add_argument("--version", action="version", version=f"ctmrfusion {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (installed_commands() if commands is None else commands).values():
        module.add_parser(subparsers)
    return parser


class Terminated(Exception):
    """SIGTERM arrived: unwinding runs every cleanup (temporary output folders) before the exit. ``requested``
    stays set, so an error the unwinding turned it into (a library that wraps exceptions raised in its
    callbacks) still exits as terminated."""

    requested = False


def _terminate(signum, frame):
    Terminated.requested = True
    if not itk_execution.interrupt(Terminated()):  # inside an ITK registration, it raises Terminated itself
        raise Terminated()


def _terminated() -> int:
    print("ctmrfusion: terminated (SIGTERM); no partial output left.", file=sys.stderr)
    return 143


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ctmrfusion: warning: {message}", file=sys.stderr)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv=None) -> int:
    """Run one subcommand; return its exit code (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = commands_for(argv)
    args = build_parser(commands).parse_args(argv)
    Terminated.requested = False
    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    previous_show, warnings.showwarning = warnings.showwarning, _show_warning
    use_passive_waits()
    watch_lifeline()
    try:
        code = commands[args.command].run(args)
    except (InvalidInputError, LandmarkError, ValueError, OSError) as error:
        # Anticipated: bad input, unreadable or unwritable files (permissions, a full disk), parse errors.
        print(f"{ERROR_PREFIX}{_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ctmrfusion: interrupted; no output written.", file=sys.stderr)
        return 130
    except Terminated:
        return _terminated()
    except Exception:
        if Terminated.requested:
            return _terminated()
        traceback.print_exc()
        print(
            f"ctmrfusion {__version__}: unexpected error (a bug); please report it with the lines above.",
            file=sys.stderr,
        )
        return 1
    finally:
        warnings.showwarning = previous_show
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return code or 0
