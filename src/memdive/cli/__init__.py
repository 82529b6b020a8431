"""The `memdive` command: a thin shell over the public Python API.

Only this package maps exceptions to exit codes (0 ok, 1 error, 2 usage) and prints one-line
errors; a traceback is printed only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .registry import COMMANDS, DEFAULT_COMMAND

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


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
    def error(self, message: str):  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _load(name: str):
    return importlib.import_module(COMMANDS[name][0])


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


def _pick_command(argv: list[str]) -> str | None:
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        name = _pick_command(argv)
        if name is None and not any(a in ("-h", "--help", "--version") for a in argv) and not [
                a for a in argv if not a.startswith("-")]:
            argv = argv + [DEFAULT_COMMAND]          # `memdive` alone is `memdive sys`
            name = DEFAULT_COMMAND
        parser = build_parser(only=name)
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", False))
        run = getattr(args, "_run", None)
        if run is None:
            parser.print_help()
            return EXIT_USAGE
        return int(run(args) or 0)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output closed early (memdive ps | head): not an error. Silence the flush at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # the one place errors become messages
        from ..errors import InvalidInput, MemdiveError

        if debug:
            raise
        if isinstance(exc, MemdiveError):
            sys.stderr.write(f"memdive: error: {exc.one_line()}\n")
            return EXIT_USAGE if type(exc) is InvalidInput else EXIT_ERROR
        sys.stderr.write(f"memdive: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)\n")
        return EXIT_ERROR


def console_main() -> None:
    raise SystemExit(main())
