"""memdive ps vs the kernel's floor, smem and a psutil loop, on >= 400 processes.

Starts enough `sleep` processes to have at least 400 (stops them by PID at the end), then in
alternating rounds times, each as a whole command (interpreter start included):
  floor    cat /proc/[0-9]*/smaps_rollup
  bare     a bare Python loop reading every smaps_rollup (the issue's 1.28x)
  lean     the least a Python program can do for ps --json: memdive's C reader and json, no CLI,
           no records, no argument parsing (how much of memdive's time is the command around it);
           then the lean program with, in turn, what memdive's command adds while the reads run:
           argparse and locale (gettext's; argparse brings `re`), memdive's modules on the ps path.
           The steps between lean and memdive show where the rest goes.
  memdive  memdive ps --json
  wrapper  the same command through the wrapper pip writes for a [project.scripts] entry point, which
           imports `re` before any of memdive's code (why memdive installs a plain script instead)
  smem     smem -t (Debian package smem)
  psutil   memory_full_info() for every process (pip install psutil)
Targets (issue 2): memdive <= 1.5x floor, >= 5x faster than smem, faster than psutil.
MEMDIVE_BENCH_PROCS=400,1000,2000 runs it at each of those process counts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

from common import alternate, ensure_bytecode, have, memdive_cmd, report, time_cmd

BARE = ("import os\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit():\n"
        "        try:\n"
        "            fd = os.open('/proc/' + p + '/smaps_rollup', os.O_RDONLY)\n"
        "            os.read(fd, 65536); os.close(fd)\n"
        "        except OSError: pass\n")
LEAN = ("{before}import os, sys\n"
        "from memdive.native import _procread\n"
        "r = _procread.start('/proc', ('smaps_rollup', 'cmdline'), None, max(1, len(os.sched_getaffinity(0)) - 1), 0, 'stat')\n"
        "import json\n"
        "{during}"
        "out = []\n"
        "for pid, uid, f in r.wait():\n"
        "    if type(f[0]) is tuple:\n"
        "        v = f[0][1]\n"
        "        out.append({{'pid': pid, 'uid': uid, 'command': f[1].rstrip(b'\\0').decode('utf-8', 'replace').replace('\\0', ' '),\n"
        "                    'rss_bytes': v[0], 'pss_bytes': v[1]}})\n"
        "out.sort(key=lambda d: d['pss_bytes'], reverse=True)\n"
        "sys.stdout.write(json.dumps({{'processes': out}}))\n")
LEAN_STEPS = {   # name: (imported before the reads start, imported while they run)
    "lean: C reader + json, no CLI": ("", ""),
    "  + argparse, locale": ("", "import argparse, locale\n"),
    "  + memdive's ps-path modules": ("", (
        "import argparse, locale\n"
        "import memdive.cli.parser, memdive.cli.commands.ps, memdive.ps, memdive.report.ps\n")),
}
# What pip writes for `memdive = "memdive.cli:console_main"` under [project.scripts] (checked byte for
# byte against pip 23.2's).
ENTRY_POINT_WRAPPER = ("#!{python}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
                       "from memdive.cli import console_main\nif __name__ == '__main__':\n"
                       "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                       "    sys.exit(console_main())\n")
PSUTIL = ("import psutil\n"
          "for p in psutil.process_iter():\n"
          "    try: p.memory_full_info(); p.cmdline(); p.username()\n"
          "    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess): pass\n")


def main(rounds: int = 11) -> dict[int, dict[str, float]]:
    """At 400 processes (the issue's figure), or at each count of MEMDIVE_BENCH_PROCS (e.g. 400,1000,2000:
    the interpreter's fixed cost weighs less the more processes there are)."""
    wants = [int(x) for x in os.environ.get("MEMDIVE_BENCH_PROCS", "400").split(",") if x.strip()]
    return {want: one(rounds, want) for want in wants}


def one(rounds: int, want: int) -> dict[str, float]:
    ensure_bytecode()
    have_now = sum(1 for p in os.listdir("/proc") if p.isdigit())
    kids = [subprocess.Popen(["sleep", "600"]) for _ in range(max(0, want - have_now) + 20)]
    tmp = tempfile.mkdtemp(prefix="memdive-bench-ps-")
    wrapper = os.path.join(tmp, "memdive")
    with open(wrapper, "w") as f:
        f.write(ENTRY_POINT_WRAPPER.format(python=sys.executable))
    os.chmod(wrapper, 0o755)
    try:
        n = sum(1 for p in os.listdir("/proc") if p.isdigit())
        print(f"processes: {n} ({len(kids)} started by this benchmark)")
        cases = {
            "floor: cat smaps_rollup": lambda: time_cmd(["sh", "-c", "cat /proc/[0-9]*/smaps_rollup >/dev/null 2>&1; true"]),
            "bare python loop": lambda: time_cmd([sys.executable, "-c", BARE]),
            "memdive ps --json": lambda: time_cmd(memdive_cmd() + ["ps", "--json"]),
            "memdive ps --json, entry-point wrapper": lambda: time_cmd([wrapper, "ps", "--json"]),
        }
        try:
            from memdive.native import _procread  # noqa: F401
            for name, (before, during) in LEAN_STEPS.items():
                prog = LEAN.format(before=before, during=during)
                cases[name] = lambda prog=prog: time_cmd([sys.executable, "-c", prog])
        except ImportError:
            print("memdive's _procread extension is not built (no Python headers): the lean cases are skipped")
        if have("smem"):
            cases["smem -t"] = lambda: time_cmd(["smem", "-t"])
        else:
            print("smem not installed (apt-get install smem): skipped")
        try:
            import psutil  # noqa: F401
            cases["psutil memory_full_info loop"] = lambda: time_cmd([sys.executable, "-c", PSUTIL])
        except ImportError:
            print("psutil not installed (pip install psutil): skipped")
        times = alternate(cases, rounds=rounds)
        ratios = report(f"ps over {n} processes", times, "floor: cat smaps_rollup")
        md = ratios["memdive ps --json"]
        print(f"\nmemdive / floor = {md:.2f}x (target <= 1.5x)")
        if "lean: C reader + json, no CLI" in ratios:
            print("the lean program and the steps to memdive, / floor: "
                  + ", ".join(f"{ratios[k]:.2f}x" for k in LEAN_STEPS) + f", memdive {md:.2f}x")
        print(f"through pip's entry-point wrapper: {ratios['memdive ps --json, entry-point wrapper']:.2f}x")
        if "smem -t" in ratios:
            print(f"smem / memdive = {ratios['smem -t'] / md:.1f}x (target >= 5x)")
        if "psutil memory_full_info loop" in ratios:
            print(f"psutil / memdive = {ratios['psutil memory_full_info loop'] / md:.2f}x (target > 1x)")
        return ratios
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for k in kids:
            k.send_signal(signal.SIGKILL)
        for k in kids:
            k.wait()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
