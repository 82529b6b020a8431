"""Shared test fixtures: compiling small C helpers, spawning children with known memory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "helpers"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory):
    """compile(name, *flags) -> path: builds tests/helpers/NAME.c once per session with gcc."""
    out = tmp_path_factory.mktemp("cbin")
    built: dict[tuple, Path] = {}
    if not shutil.which("gcc"):
        pytest.fail("gcc is required for the live tests (apt-get install gcc)")

    def compile(name: str, *flags: str) -> Path:
        key = (name, flags)
        if key not in built:
            exe = out / (name + ("-" + "_".join(f.strip("-") for f in flags) if flags else ""))
            subprocess.run(["gcc", "-O1", "-g", "-o", str(exe), str(HELPERS / f"{name}.c"), *flags],
                           check=True, capture_output=True)
            built[key] = exe
        return built[key]

    return compile


class Child:
    """A child process started by a test, stopped by PID at teardown."""

    def __init__(self, argv, ready: str = "ready", **kw):
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, **kw)
        self.pid = self.p.pid
        self.lines: list[str] = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"child {argv} exited before '{ready}': {self.lines}")
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith(ready):
                break

    def info(self) -> dict[str, str]:
        """key=value pairs the child printed before 'ready'."""
        out = {}
        for line in self.lines:
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    out[k] = v
        return out

    def send(self, text: str) -> str:
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip("\n")

    def stop(self):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait(timeout=10)


@pytest.fixture
def spawn():
    kids: list[Child] = []

    def start(argv, **kw) -> Child:
        c = Child(argv, **kw)
        kids.append(c)
        return c

    yield start
    for c in kids:
        c.stop()


@pytest.fixture
def memdive_cli():
    """Run the installed `memdive` command as a subprocess: (argv...) -> CompletedProcess."""
    def run(*args: str, env=None, user: str | None = None, check: bool = False, timeout: float = 120):
        cmd = [sys.executable, "-m", "memdive", *args]
        if user:
            import pwd

            pw = pwd.getpwnam(user)
            cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=check, timeout=timeout)

    return run


def is_root() -> bool:
    return os.geteuid() == 0


requires_root = pytest.mark.skipif(not is_root(), reason="needs root")
