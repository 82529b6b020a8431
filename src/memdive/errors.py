"""The project's exceptions. Each says what happened, to which pid or path, and what would fix it.

The library raises these and nothing else escapes a reader of /proc or /sys; only the CLI turns them
into exit codes and one-line messages (memdive.cli).
"""

from __future__ import annotations


class MemdiveError(Exception):
    """Base class. `hint` says what would fix it; `pid`/`path` say what it was about."""

    def __init__(self, msg: str, *, pid: int | None = None, path: str | None = None, hint: str | None = None):
        super().__init__(msg)
        self.msg = msg
        self.pid = pid
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        return self.msg

    def one_line(self) -> str:
        return self.msg + (f" (hint: {self.hint})" if self.hint else "")


class NoSuchProcess(MemdiveError):
    """The process does not exist, or exited while it was being read."""


class ZombieProcess(NoSuchProcess):
    """The process has exited but not been reaped: its memory files are empty."""


class AccessDenied(MemdiveError):
    """The kernel refused the read or write (permissions, ptrace access mode, capability)."""


class KernelFeatureMissing(MemdiveError):
    """This kernel lacks an interface (file absent, ENOTTY/ENOSYS/EOPNOTSUPP)."""


class InvalidInput(MemdiveError):
    """Bad argument from the user, or a malformed file (a typed parse error naming the file)."""


class ParseError(InvalidInput):
    """A kernel file did not have the expected format (garbage or truncated)."""


def check_input_file(path: str, what: str) -> None:
    """A file the user named as input (a recording, a trace): a wrong path or a directory is InvalidInput
    (exit 2), a directory on the way that this user may not search is AccessDenied (root can)."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", path=path) from None
    except PermissionError as e:
        raise AccessDenied(f"{path}: {e.strerror}", path=path,
                           hint="a directory on the path is not searchable by this user: run as root") from None
    except OSError as e:
        raise InvalidInput(f"{path}: {e.strerror}", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{path} is a directory, not {what}", path=path)
