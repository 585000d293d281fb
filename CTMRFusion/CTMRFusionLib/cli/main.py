"""``ctmrfusion``: the command line's entry point, one subcommand per module of this package.

Each subcommand module has ``add_parser(commands)`` and ``run(args)``; :data:`COMMANDS` is the dispatch table.

Exit codes: 0 success, 2 bad input (the one-line reason is printed), 130 interrupted, 1 unexpected error
(``batch``: 1 also when some case failed).
"""

from __future__ import annotations

import argparse
import sys

from CTMRFusionLib import __version__
from CTMRFusionLib.cli import batch, demo, fuse, register, snapshot, train_fusion, train_registration
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.landmark_files import LandmarkError

#: Subcommand name → its module, in the order ``--help`` lists them.
COMMANDS = {
    "register": register,
    "snapshot": snapshot,
    "fuse": fuse,
    "train-fusion": train_fusion,
    "train-registration": train_registration,
    "batch": batch,
    "demo": demo,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctmrfusion", description="CT–MR registration and fusion.")
    parser.add_argument("--version", action="version", version=f"ctmrfusion {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = COMMANDS[args.command].run(args)
    except (InvalidInputError, LandmarkError, ValueError, FileNotFoundError) as error:
        print(f"ctmrfusion: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ctmrfusion: interrupted; no output written.", file=sys.stderr)
        return 130
    return code or 0
