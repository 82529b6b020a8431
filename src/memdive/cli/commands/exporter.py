"""Prometheus exporter: system memory, PSI, vmstat (THP, compaction, reclaim), buddyinfo, NUMA nodes, and
per-group RSS/PSS/USS/swap/faults, served on /metrics from the sampler's latest snapshot.

Groups are by command name (default), user or cgroup — never PID or command line unless --group-by pid;
only the --top N groups by PSS are exported, the rest summed as group="other", and --max-series caps
the per-group series whatever happens (500 short-lived processes cannot blow up cardinality).
Binds 127.0.0.1:9917 unless --listen says otherwise, and warns when exposed without TLS. --web-config
takes the Prometheus exporter-toolkit file (tls_server_config, basic_auth_users with bcrypt hashes).
Run as root for every process's PSS (without root: other users' processes are counted by RSS).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ...exporter.metrics import GROUP_BY
    from ...exporter.server import DEFAULT_LISTEN
    from ..common import parse_seconds

    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"address to serve on (default {DEFAULT_LISTEN}; ':9917' means every interface)")
    p.add_argument("--group-by", choices=GROUP_BY, default="command", help="how processes are grouped")
    p.add_argument("--top", type=int, default=30, metavar="N", help="export the N largest groups (default 30)")
    p.add_argument("--max-series", type=int, default=1000, metavar="N",
                   help="hard cap on per-group series (default 1000)")
    p.add_argument("--interval", type=parse_seconds, default=5.0, metavar="S", help="seconds between samples (default 5)")
    p.add_argument("--web-config", metavar="FILE", help="TLS and basic auth (Prometheus exporter-toolkit format)")
    p.add_argument("--once", action="store_true", help="print one scrape to stdout and exit (no server)")


def run(args) -> int:
    import signal
    import sys
    import threading

    from ...exporter.server import Exporter, ExporterConfig

    cfg = ExporterConfig(listen=args.listen, group_by=args.group_by, top=args.top, max_series=args.max_series,
                         interval=args.interval, web_config=args.web_config)
    ex = Exporter(cfg)
    if args.once:
        ex._on_snapshot(ex.sampler.sample(), None)
        rendered = ex.render()
        assert rendered is not None       # None only when no snapshot came in time: one was just stored
        text, _ = rendered
        sys.stdout.write(text.decode())
        ex.sampler.close()
        return 0
    for w in ex.warnings():
        sys.stderr.write(f"memdive: warning: {w}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ex.start()
    sys.stderr.write(f"memdive exporter: serving {ex.url} (every {cfg.interval:g} s, by {cfg.group_by}); "
                     "Ctrl-C to stop\n")
    sys.stderr.flush()
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        ex.stop()
    return 0
