"""Page-cache residency of files and directory trees (vmtouch and fincore, better).

Resident/total pages per file and in total; dirty, writeback and recently evicted pages through
cachestat() (Linux 6.5+), else mmap + mincore. Where the kernel refuses cachestat (a file you may
only read) the file is reported unknown: mincore would claim every page resident there.
--touch loads the files, --evict drops their clean cached pages (POSIX_FADV_DONTNEED), --lock
maps and mlocks them and holds them in memory until interrupted (Ctrl-C).

Examples:
  memdive cache /var/lib/postgresql
  memdive cache big.bin --evict
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_count

    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (walked recursively)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--touch", action="store_true", help="load the files into the page cache first")
    g.add_argument("--evict", action="store_true", help="drop the files' clean pages from the cache first")
    g.add_argument("--lock", action="store_true", help="lock the files in memory until interrupted")
    p.add_argument("--method", choices=("auto", "cachestat", "mincore"), default="auto",
                   help="auto: cachestat where the kernel has it, else mincore")
    p.add_argument("--top", type=parse_count, default=50, metavar="N", help="files listed, most cached first (0 = all)")
    p.add_argument("--no-recursive", action="store_true", help="do not walk directories")


def run(args) -> int:
    from ...pages.cache import Locked, files

    action = "touch" if args.touch else "evict" if args.evict else "lock" if args.lock else None
    held = Locked() if action == "lock" else None
    try:
        rep = files(args.paths, action=action, method=args.method, recursive=not args.no_recursive, locked=held)
        if args.json:
            from ..common import emit_json

            emit_json(rep)
        else:
            import sys

            from ...report.pages import cache_text

            sys.stdout.write(cache_text(rep, top=args.top or None) + "\n")
        if held is not None:
            import signal
            import sys

            sys.stderr.write(f"memdive: {len(held.maps)} mappings locked in memory; Ctrl-C to release\n")
            sys.stderr.flush()
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                pass
    finally:
        if held is not None:
            held.release()
    return 0
