"""The exporter: a sampling thread and an HTTP server answering /metrics from the latest snapshot.

Scrapes never sample: the sampling thread replaces the snapshot every interval; a scrape renders the
latest one (once per snapshot, shared by concurrent scrapes) and answers. A scrape waits for a
rendering at most `scrape_timeout` seconds and answers 503 then; at most `max_concurrent` scrapes are
served at once; sockets time out so a slow client cannot hold a thread.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from ..errors import InvalidInput, MemdiveError
from .metrics import GROUP_BY, GroupCounters, families

DEFAULT_LISTEN = "127.0.0.1:9917"


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9917', '[::1]:9917', ':9917' (every address), 'localhost:9917'."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9917")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


@dataclass
class ExporterConfig:
    listen: str = DEFAULT_LISTEN
    group_by: str = "command"
    top: int = 30
    max_series: int = 1000
    interval: float = 5.0
    web_config: str | None = None
    scrape_timeout: float = 5.0
    max_concurrent: int = 4


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Exporter:
    """Exporter(config).start() → serving; .stop(). `.url` is where /metrics answers."""

    def __init__(self, config: ExporterConfig, root=None):
        from ..monitor.sampler import Sampler, SamplerConfig

        if config.group_by not in GROUP_BY:
            raise InvalidInput(f"--group-by {config.group_by!r}: one of {', '.join(GROUP_BY)}")
        if config.top < 0 or config.max_series < 1:
            raise InvalidInput("--top must be >= 0 and --max-series >= 1")
        if config.interval <= 0:
            raise InvalidInput("--interval must be > 0")
        self.config = config
        self.host, self.port = parse_listen(config.listen)
        self.web = None
        if config.web_config:
            from .webconfig import load

            self.web = load(config.web_config)
        self.sampler = Sampler(root, SamplerConfig(interval=config.interval, extras=True,
                                                   with_cgroup=config.group_by == "cgroup"))
        boot_ticks = time.clock_gettime(time.CLOCK_BOOTTIME) * _clk_tck()
        self.counters = GroupCounters(by=config.group_by, started_ticks=boot_ticks)
        self._lock = threading.Lock()
        self._snap = None
        self._rendered: tuple[int, bytes, bytes] | None = None   # (snapshot id, text, openmetrics)
        self._seq = 0
        self._render_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, config.max_concurrent))
        self._stop = threading.Event()
        self._first = threading.Event()
        self.errors: list[str] = []
        self._thread: threading.Thread | None = None
        self._httpd: _Server | None = None
        self._version = _version()

    # --- warnings the CLI prints ------------------------------------------------------------------

    def warnings(self) -> list[str]:
        out = []
        exposed = not is_loopback(self.host) if self.host else True
        if exposed and (self.web is None or self.web.tls is None):
            out.append(f"listening on {self.config.listen} without TLS: metrics (process names, users, "
                       "memory) are readable by anyone who can reach this port; add --web-config with "
                       "tls_server_config (and basic_auth_users)")
        elif exposed and self.web is not None and not self.web.users:
            out.append(f"listening on {self.config.listen} with TLS but no basic_auth_users: anyone who can "
                       "reach this port may scrape it")
        if self.config.group_by == "pid":
            out.append("--group-by pid: one series set per process (capped by --top/--max-series)")
        return out

    # --- sampling ----------------------------------------------------------------------------------

    def _on_snapshot(self, snap, err) -> None:
        if err is not None:
            self.errors.append(err.one_line())
            del self.errors[:-10]
            return
        self.counters.update(snap)
        with self._lock:
            self._snap = snap
            self._seq += 1
        self._first.set()

    def _sample_loop(self) -> None:
        from ..monitor.sampler import run_every

        run_every(self.sampler, self.config.interval, self._stop, self._on_snapshot)

    # --- rendering ----------------------------------------------------------------------------------

    def render(self, timeout: float | None = None) -> tuple[bytes, bytes] | None:
        """(Prometheus text, OpenMetrics text) of the latest snapshot, or None if none within timeout."""
        timeout = self.config.scrape_timeout if timeout is None else timeout
        if not self._first.wait(timeout):
            return None
        with self._lock:
            snap, seq = self._snap, self._seq
        if snap is None:
            return None
        r = self._rendered
        if r is not None and r[0] == seq:
            return r[1], r[2]
        if not self._render_lock.acquire(timeout=timeout):
            return None
        try:
            r = self._rendered
            if r is not None and r[0] == seq:
                return r[1], r[2]
            from prometheus_client import CollectorRegistry
            from prometheus_client.exposition import generate_latest
            from prometheus_client.openmetrics.exposition import generate_latest as generate_om

            fams = families(snap, by=self.config.group_by, top=self.config.top,
                            max_series=self.config.max_series, counters=self.counters, version=self._version)
            reg = CollectorRegistry(auto_describe=False)
            reg.register(_Static(fams))
            text, om = generate_latest(reg), generate_om(reg)
            self._rendered = (seq, text, om)
            return text, om
        finally:
            self._render_lock.release()

    # --- serving ---------------------------------------------------------------------------------------

    def start(self) -> Self:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10                       # a slow client cannot hold a thread
            server_version = "memdive-exporter"
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:   # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8", extra=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _authorized(self) -> bool:
                web = exporter.web
                if web is None or not web.users:
                    return True
                h = self.headers.get("Authorization", "")
                if not h.startswith("Basic "):
                    return False
                try:
                    user, _, pw = base64.b64decode(h[6:], validate=True).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    return False
                return web.check(user, pw)

            def do_GET(self) -> None:
                if not self._authorized():
                    self._send(401, b"Unauthorized\n", extra={"WWW-Authenticate": 'Basic realm="memdive"'})
                    return
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._send(200, b"<html><head><title>memdive exporter</title></head><body>"
                               b"<h1>memdive exporter</h1><p><a href='/metrics'>Metrics</a></p></body></html>",
                               "text/html; charset=utf-8")
                    return
                if path != "/metrics":
                    self._send(404, b"Not Found\n")
                    return
                if not exporter._slots.acquire(blocking=False):
                    self._send(503, b"too many concurrent scrapes\n")
                    return
                try:
                    out = exporter.render()
                finally:
                    exporter._slots.release()
                if out is None:
                    self._send(503, b"no snapshot yet (the sampler is starting or stuck)\n")
                    return
                if "application/openmetrics-text" in self.headers.get("Accept", ""):
                    from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OM

                    self._send(200, out[1], OM)
                else:
                    from prometheus_client.exposition import CONTENT_TYPE_LATEST

                    self._send(200, out[0], CONTENT_TYPE_LATEST)

            do_HEAD = do_GET

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        _Server.address_family = family
        try:
            httpd = _Server((self.host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), self.port), Handler)
        except OSError as e:
            raise MemdiveError(f"cannot listen on {self.config.listen}: {e.strerror}",
                               hint="is another exporter running on that port? choose one with --listen") from None
        if self.web is not None and self.web.tls is not None:
            httpd.socket = self.web.tls.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=self._sample_loop, name="memdive-sampler", daemon=True)
        self._thread.start()
        self._http_thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                             name="memdive-http", daemon=True)
        self._http_thread.start()
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.web is not None and self.web.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else (self.host or "127.0.0.1")
        return f"{scheme}://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sampler.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Static:
    def __init__(self, fams):
        self.fams = fams

    def collect(self):
        return iter(self.fams)


def _clk_tck() -> int:
    import os

    return os.sysconf("SC_CLK_TCK")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("memdive")
    except Exception:  # noqa: BLE001 - only a label: no metadata failure may stop us
        return "unknown"
