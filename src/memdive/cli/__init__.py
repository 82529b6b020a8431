"""The `memdive` command: a thin shell over the public Python API.

Only this package maps exceptions to exit codes (0 ok, 1 error, 2 usage) and prints one-line
errors; a traceback is printed only with --debug.
"""

from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
_NO_RUN = ("-h", "--help", "--version")   # options that print and exit without running a command


def _pick_command(argv: list[str]) -> str | None:
    from .registry import COMMANDS

    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def _command_of(argv: list[str]) -> tuple[str | None, list[str]]:
    """The command being run, and argv with the default command added (`memdive` alone is `memdive sys`)."""
    from .registry import DEFAULT_COMMAND

    name = _pick_command(argv)
    if name is None and not any(a in _NO_RUN for a in argv) and not [
            a for a in argv if not a.startswith("-")]:
        return DEFAULT_COMMAND, argv + [DEFAULT_COMMAND]
    return name, argv


def _reads_every_process(argv: list[str]) -> bool:
    """`ps` and `sys` (also as the default command), not asking for help: the commands that read every
    process's rollup. Decided from argv alone, before any import (the registry's included): every
    millisecond before the reads start is lost whole."""
    words = [a for a in argv if not a.startswith("-")]
    return (not words or words[0] in ("ps", "sys")) and "--" not in argv and not any(a in _NO_RUN for a in argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        name, argv = _command_of(argv)
        from .parser import build_parser

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
    argv = sys.argv[1:]
    if _reads_every_process(argv):
        # Every process's rollup and command line are read by the C core's threads while the
        # interpreter imports the parser and the command: `ps` costs little more than its reads.
        from ..kernel.procread import ROLLUP_NAMES, ROLLUP_READ, prefetch

        prefetch(ROLLUP_NAMES, **ROLLUP_READ)
    code = main(argv)
    from .registry import QUICK_EXIT

    name, _ = _command_of(argv)
    if name in QUICK_EXIT:
        _quick_exit(code)
    raise SystemExit(code)


def _quick_exit(code: int) -> None:
    """End a read-only view without the interpreter's teardown (freeing every module: a few ms of
    a 30 ms command), when nothing is left to clean up: no atexit handler, no running thread."""
    import atexit

    threading = sys.modules.get("threading")
    pending = getattr(atexit, "_ncallbacks", lambda: 1)()     # CPython's count of atexit handlers
    if pending or (threading is not None and threading.active_count() > 1):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:   # output closed early (memdive ps | head): not an error
        code = EXIT_OK
    except OSError:
        return                # let the normal exit report it
    os._exit(code)
