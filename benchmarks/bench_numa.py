"""memdive numa / ctl against numactl's tools and the kernel's floor, in alternating rounds.

Target: tests/helpers/numa_touch.c with 1 GiB mapped and touched (262,144 pages of 4 KiB, no THP).
  nodes       memdive numa --json            vs numastat (numactl)        vs cat node*/{meminfo,numastat}
  process     memdive numa PID --json        vs numastat -p PID           vs cat /proc/PID/numa_maps
  migrate     memdive numa migrate --to 0    vs migratepages PID 0 0      (commands: every resident page
              (move_pages: per-page status)     (migrate_pages, no status)  queried, all already on node 0)
  placement API memdive.numa.placement(pid)  vs reading numa_maps in Python (the floor)
  migrate API memdive.numa.migrate(pid, 0)   vs one raw move_pages query of the same pages (the floor)
  ctl         memdive ctl oom PID            vs choom -p PID; memdive ctl limits PID vs prlimit --pid PID
Commands are timed whole (interpreter start included). The machine has one node: nothing really moves.
"""

from __future__ import annotations

import glob
import subprocess
import sys
import time
from pathlib import Path

from common import BUILD, REPO, alternate, have, memdive_cmd, report, time_cmd

PAGES = 262144


def _helper() -> Path:
    BUILD.mkdir(parents=True, exist_ok=True)
    exe = BUILD / "numa_touch"
    src = REPO / "tests" / "helpers" / "numa_touch.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-O2", str(src), "-o", str(exe)], check=True)
    return exe


def main(rounds: int = 9) -> None:
    md = memdive_cmd()
    child = subprocess.Popen([str(_helper()), str(PAGES), "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        info = {}
        while True:
            line = child.stdout.readline()
            if not line or line.startswith("ready"):
                break
            info.update(t.split("=", 1) for t in line.split() if "=" in t)
        pid = str(child.pid)
        print(f"target PID {pid}: {PAGES} pages touched at {info.get('addr')}")
        node_files = glob.glob("/sys/devices/system/node/node*/meminfo") + \
            glob.glob("/sys/devices/system/node/node*/numastat")

        cases = {"cat node files (floor)": lambda: time_cmd(["cat", *node_files]),
                 "memdive numa --json": lambda: time_cmd([*md, "numa", "--json"])}
        if have("numastat"):
            cases["numastat"] = lambda: time_cmd(["numastat"])
        report("nodes", alternate(cases, rounds), "cat node files (floor)")

        cases = {"cat numa_maps (floor)": lambda: time_cmd(["cat", f"/proc/{pid}/numa_maps"]),
                 "memdive numa PID --json": lambda: time_cmd([*md, "numa", pid, "--json"]),
                 "memdive numa PID": lambda: time_cmd([*md, "numa", pid])}
        if have("numastat"):
            cases["numastat -p PID"] = lambda: time_cmd(["numastat", "-p", pid])
        report("process placement", alternate(cases, rounds), "cat numa_maps (floor)")

        cases = {"memdive numa migrate --to 0 (move_pages)":
                 lambda: time_cmd([*md, "numa", "migrate", pid, "--to", "0", "--yes", "--json"]),
                 "memdive numa migrate --method migrate_pages":
                 lambda: time_cmd([*md, "numa", "migrate", pid, "--to", "0", "--method", "migrate_pages", "--yes"])}
        if have("migratepages"):
            cases["migratepages PID 0 0"] = lambda: time_cmd(["migratepages", pid, "0", "0"])
        ref = "migratepages PID 0 0" if have("migratepages") else next(iter(cases))
        report("migrate (whole commands)", alternate(cases, rounds), ref)

        import numpy as np

        from memdive.numa import placement

        def raw_read() -> float:
            t = time.perf_counter()
            with open(f"/proc/{pid}/numa_maps", "rb") as f:
                f.read()
            return time.perf_counter() - t

        def api_placement() -> float:
            t = time.perf_counter()
            placement(int(pid))
            return time.perf_counter() - t

        report("placement API (in process)", alternate({"read numa_maps (floor)": raw_read,
                                                        "memdive.numa.placement": api_placement}, rounds),
               "read numa_maps (floor)")

        from memdive.kernel import numa as knuma
        from memdive.numa import migrate

        addr = int(info["addr"], 16)
        addrs = np.arange(addr, addr + PAGES * 4096, 4096, dtype=np.uint64)

        def floor() -> float:
            t = time.perf_counter()
            knuma.move_pages(int(pid), addrs, None)
            return time.perf_counter() - t

        def api() -> float:
            t = time.perf_counter()
            r = migrate(int(pid), 0)
            assert r.pages_examined >= PAGES
            return time.perf_counter() - t

        report("migrate API (in process)", alternate({"raw move_pages query (floor)": floor,
                                                      "memdive.numa.migrate": api}, rounds),
               "raw move_pages query (floor)")

        cases = {"memdive ctl oom PID": lambda: time_cmd([*md, "ctl", "oom", pid])}
        if have("choom"):
            cases["choom -p PID"] = lambda: time_cmd(["choom", "-p", pid])
        cases["memdive ctl limits PID"] = lambda: time_cmd([*md, "ctl", "limits", pid])
        if have("prlimit"):
            cases["prlimit --pid PID"] = lambda: time_cmd(["prlimit", "--pid", pid])
        cases["python -c pass (interpreter start)"] = lambda: time_cmd([sys.executable, "-c", "pass"])
        report("ctl", alternate(cases, rounds), "python -c pass (interpreter start)")
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
