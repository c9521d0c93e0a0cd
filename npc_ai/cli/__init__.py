"""The ``npc-ai`` command line.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which
registers it and sets ``func`` to a callable taking the parsed namespace and
returning an exit code. Options objects are built here, at the edge; nothing
below the CLI reads argparse namespaces or the environment for behaviour.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from npc_ai import __version__
from npc_ai.errors import NpcAiError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from npc_ai.cli import chat, models

    parser = argparse.ArgumentParser(
        prog="npc-ai",
        description="Local NPC dialogue, memory, subtitles and translation for games.",
    )
    parser.add_argument("--version", action="version", version=f"npc-ai {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    models.add_parser(sub)
    chat.add_parser(sub)
    _add_plugins(sub)
    return parser


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Subcommands of other packages (``serve`` and ``subtitles`` from the bridge).

    The core never imports the bridge (imports flow bridge -> npc_ai), so a
    package adds a subcommand by naming a module with ``add_parser`` in the
    ``npc_ai.cli`` entry-point group of its pyproject.toml.
    """
    from importlib.metadata import entry_points

    for point in sorted(entry_points(group="npc_ai.cli"), key=lambda p: p.name):
        try:
            point.load().add_parser(sub)
        except Exception as exc:  # a broken plug-in must not break the other commands
            logging.getLogger(__name__).warning("npc-ai %s is unavailable: %s", point.name, exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except NpcAiError as exc:
        print(f"npc-ai: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
