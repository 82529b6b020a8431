"""The command registry: name -> (module, one-line summary). Modules are imported only when run.

Adding a command: one file in memdive/cli/commands/ (its docstring is its help; it defines
`add_arguments(parser)` and `run(args) -> int`), one line here, and its tests.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "sys": ("memdive.cli.commands.sys", "the machine's memory at a glance (the default command)"),
    "maps": ("memdive.cli.commands.maps", "a process's address space: every mapping, summaries, layout"),
    "ps": ("memdive.cli.commands.ps", "processes by RSS/PSS/USS/swap, grouped by user, command or cgroup"),
    "thp": ("memdive.cli.commands.thp", "transparent huge pages: settings, a process's use and why not, collapse"),
    "hugetlb": ("memdive.cli.commands.hugetlb", "hugetlb pools per size and node, mounts, reserve/release, check"),
    "frag": ("memdive.cli.commands.frag", "free blocks by order, fragmentation indices, compaction (before/after)"),
    "numa": ("memdive.cli.commands.numa", "NUMA nodes, a process's pages per node, migrate pages, run under a policy"),
    "ctl": ("memdive.cli.commands.ctl", "a process's OOM score, memory limits, overcommit; run with them set"),
    "top": ("memdive.cli.commands.top", "live view: system line and processes by PSS/USS/RSS/swap/faults"),
    "record": ("memdive.cli.commands.record", "record system and per-process memory into an SQLite file"),
    "replay": ("memdive.cli.commands.replay", "a recording at a chosen time, as sys/ps show it; CSV/Parquet export"),
    "plot": ("memdive.cli.commands.plot", "plot a recording: memory, processes' PSS, faults, PSI over time"),
    "exporter": ("memdive.cli.commands.exporter", "Prometheus /metrics: system, PSI, vmstat, buddyinfo, NUMA, groups"),
    "alloc": ("memdive.cli.commands.alloc", "allocators compared on a command; placed buffers and what they got"),
    "trace": ("memdive.cli.commands.trace", "trace a program's allocations: leaks, peak heap, call sites, RSS owners"),
    "bench": ("memdive.cli.commands.bench", "benchmark the memory hierarchy: latency, bandwidth, TLB, patterns"),
    "pages": ("memdive.cli.commands.pages", "every page of a process: present, swapped, THP, KSM, LRU, shared-by-N, flags"),
    "phys": ("memdive.cli.commands.phys", "virtual to physical addresses of a process, with each page's flags"),
    "cache": ("memdive.cli.commands.cache", "page-cache residency of files and trees; touch, evict, lock (vmtouch)"),
    "wss": ("memdive.cli.commands.wss", "working-set size of a process over time (accessed and written sets)"),
    "faults": ("memdive.cli.commands.faults", "minor/major page faults of processes, the system, or a command"),
}

DEFAULT_COMMAND = "sys"

# Read-only views that end without the interpreter's teardown (cli._quick_exit): they hold no
# files to flush and start no threads. Commands that write files or run servers are not here.
QUICK_EXIT = frozenset({"sys", "ps", "maps", "cache", "pages", "phys", "frag"})
