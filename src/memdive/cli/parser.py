"""The command-line parser (argparse), built for the command being run only."""

from __future__ import annotations

import argparse
import os
import sys

from . import EXIT_USAGE
from .registry import COMMANDS


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help formatting without importing shutil (argparse builds a formatter for every argument,
    and shutil drags in bz2/lzma: a few ms of `memdive ps`'s startup)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(2).columns
            except (OSError, ValueError):
                width = 80
            width -= 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: one line (not argparse's usage block), exit 2
        sys.stderr.write(f"memdive: error: {message} (hint: `{self.prog} --help` lists the arguments)\n")
        raise SystemExit(EXIT_USAGE)


def _load(name: str):
    __import__(COMMANDS[name][0])    # not importlib: it costs half a ms of every start
    return sys.modules[COMMANDS[name][0]]


def _add_command(sub, name: str):
    mod = _load(name)
    doc = (mod.__doc__ or COMMANDS[name][1]).strip()
    p = sub.add_parser(name, help=COMMANDS[name][1], description=doc, formatter_class=_Formatter)
    p.add_argument("--json", action="store_true", help="print JSON (stable schema: bytes as integers, times in seconds)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    mod.add_arguments(p)
    p.set_defaults(_run=mod.run)
    return p


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="memdive", description="Linux memory, from the address space down to DRAM.",
                     formatter_class=_Formatter,
                     epilog="Run `memdive COMMAND --help` for a command's options. "
                            "With no command: `memdive sys`.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"memdive {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if only is not None:
        _add_command(sub, only)      # the command being run: the only module imported, the only parser built
        return parser
    for name in COMMANDS:            # help and usage errors: listed from the registry alone, nothing imported
        sub.add_parser(name, help=COMMANDS[name][1], add_help=False)
    return parser
