"""Writing a recording: one Snapshot per transaction into an SQLite file in WAL mode."""

from __future__ import annotations

import os
import sqlite3
from typing import Self

from ..errors import AccessDenied, InvalidInput, MemdiveError
from ..models.monitor import Snapshot
from .schema import APPLICATION_ID, DDL, MEMINFO_COLUMNS, PROC_SAMPLE_COLUMNS, PSI_COLUMNS, SCHEMA_VERSION


def _meta_defaults(interval: float) -> dict[str, str]:
    import platform
    import socket
    import time

    try:
        from importlib.metadata import version

        ver = version("memdive")
    except Exception:  # noqa: BLE001 - only a label: no metadata failure may stop us
        ver = "unknown"
    return {"schema_version": str(SCHEMA_VERSION), "memdive_version": ver, "hostname": socket.gethostname(),
            "kernel": platform.release(), "interval_seconds": repr(float(interval)),
            "started": repr(time.time()), "page_size_bytes": str(os.sysconf("SC_PAGE_SIZE"))}


class Recorder:
    """`Recorder(path, interval=1.0).write(snapshot)`; `append=True` continues an existing recording."""

    def __init__(self, path: str, *, interval: float = 1.0, append: bool = False, overwrite: bool = False,
                 meta: dict[str, str] | None = None):
        self.path = path
        if os.path.isdir(path):
            raise InvalidInput(f"{path} is a directory", path=path, hint="give the recording's file name: -o DIR/FILE.db")
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if exists and not (append or overwrite):
            raise InvalidInput(f"{path} exists", path=path,
                               hint="choose another file, --append to continue it or --force to overwrite it")
        if exists and overwrite:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(path + suffix)
                except FileNotFoundError:
                    pass
            exists = False
        if exists:
            from .reader import Recording

            Recording(path).close()          # validates: a memdive recording of a schema we write
            if not os.access(path, os.W_OK):
                raise AccessDenied(f"permission denied writing {path}", path=path,
                                   hint="append as the recording's owner (or root), or record into a new file")
        if not exists:
            # Command lines can hold secrets: the recording is readable by its owner only.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            except OSError as e:
                raise MemdiveError(f"{path}: cannot create the recording: {e.strerror}", path=path) from None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process never loses a committed sample (only power loss could).
            self.db.execute("PRAGMA synchronous=NORMAL")
            if not exists:
                self.db.execute("BEGIN")
                for stmt in DDL:
                    self.db.execute(stmt)
                m = _meta_defaults(interval)
                m.update(meta or {})
                self.db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", m.items())
                self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise MemdiveError(f"{path}: cannot write the recording: {e}", path=path) from None
        self._vm_ids: dict[str, int] = {
            n: i for i, n in self.db.execute("SELECT id, name FROM vmstat_names")}
        self._proc_ids: dict[tuple[int, int], int] = {}
        self._vm_keys: list[str] | None = None
        self.samples = 0
        self._sys_sql = ("INSERT INTO system(sample_id, " + ", ".join(MEMINFO_COLUMNS.values()) + ", "
                         + ", ".join(PSI_COLUMNS) + ") VALUES ("
                         + ", ".join("?" * (1 + len(MEMINFO_COLUMNS) + len(PSI_COLUMNS))) + ")")
        self._ps_sql = ("INSERT INTO proc_samples(sample_id, proc_id, " + ", ".join(PROC_SAMPLE_COLUMNS)
                        + ") VALUES (" + ", ".join("?" * (2 + len(PROC_SAMPLE_COLUMNS))) + ")")

    def _proc_id(self, p, sid: int) -> int:
        key = (p.pid, p.start_ticks)
        pid = self._proc_ids.get(key)
        if pid is None:
            cur = self.db.execute(
                "INSERT INTO procs(pid, start_ticks, uid, user, comm, command, cgroup, first_sample, last_sample) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pid, start_ticks) DO UPDATE SET last_sample=? "
                "RETURNING id",
                (p.pid, p.start_ticks, p.uid, p.user, p.comm, p.command[:4096], p.cgroup, sid, sid, sid))
            pid = cur.fetchone()[0]
            self._proc_ids[key] = pid
        return pid

    def write(self, snap: Snapshot) -> int:
        """Write one snapshot as one transaction; returns its sample id."""
        from ..monitor.sampler import recorded_vmstat_keys

        db = self.db
        try:
            db.execute("BEGIN")
            cur = db.execute("INSERT INTO samples(t, interval_seconds, processes, denied, vanished, "
                             "sampler_cpu_seconds) VALUES (?, ?, ?, ?, ?, ?)",
                             (snap.time, snap.interval_seconds, len(snap.processes), snap.denied, snap.vanished,
                              snap.stats.cpu_seconds if snap.stats else None))
            sid = int(cur.lastrowid or 0)
            s = snap.system
            psi = s.pressure
            pvals: tuple = (None,) * 8
            if psi is not None:
                f = psi.full
                pvals = (psi.some.avg10, psi.some.avg60, psi.some.avg300, psi.some.total_us,
                         f.avg10 if f else None, f.avg60 if f else None, f.avg300 if f else None,
                         f.total_us if f else None)
            db.execute(self._sys_sql, (sid, *(s.meminfo.get(k) for k in MEMINFO_COLUMNS), *pvals))
            if self._vm_keys is None:
                self._vm_keys = recorded_vmstat_keys(s.vmstat)
                for k in self._vm_keys:
                    if k not in self._vm_ids:
                        self._vm_ids[k] = db.execute("INSERT INTO vmstat_names(name) VALUES (?) RETURNING id",
                                                     (k,)).fetchone()[0]
            rates = s.vmstat_rates or {}
            db.executemany("INSERT INTO vmstat(sample_id, name_id, value, rate) VALUES (?, ?, ?, ?)",
                           [(sid, self._vm_ids[k], s.vmstat[k], rates.get(k)) for k in self._vm_keys
                            if k in s.vmstat])
            rows = []
            for p in snap.processes:
                rows.append((sid, self._proc_id(p, sid), p.rss_bytes, p.swap_bytes, p.pss_bytes, p.uss_bytes,
                             p.swap_pss_bytes, p.pss_anon_bytes, p.pss_file_bytes, p.pss_shmem_bytes, p.minflt,
                             p.majflt, p.faults_per_second, p.major_faults_per_second, p.cpu_percent,
                             p.pss_age_seconds))
            db.executemany(self._ps_sql, rows)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise MemdiveError(f"{self.path}: writing a sample failed: {e}", path=self.path,
                               hint="is the disk full?") from None
        self.samples += 1
        return sid

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
