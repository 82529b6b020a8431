"""Run memdive's benchmarks: `python benchmarks/run.py [NAME...]` (default: all).

Each benchmarks/bench_NAME.py has a main() that prints figures and ratios against references
measured in the same run. Needs the package installed (pip install .) and gcc.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = argv or sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    import common

    common.print_preflight()
    common.ensure_bytecode()   # every whole-command timing runs from compiled bytecode, as installed
    for name in names:
        path = HERE / f"bench_{name}.py"
        if not path.exists():
            print(f"no benchmark named {name!r}", file=sys.stderr)
            return 2
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(f"\n===== {name} =====")
        mod.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
