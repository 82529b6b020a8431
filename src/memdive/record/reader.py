"""Reading a recording: validation, the sample nearest a time, the tables of `ps`/`sys` at that time,
series for plots, and CSV/Parquet export."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import ClassVar, Self

from ..errors import AccessDenied, InvalidInput, MemdiveError, check_input_file
from .schema import APPLICATION_ID, MEMINFO_COLUMNS, PROC_SAMPLE_COLUMNS, PSI_COLUMNS, SCHEMA_VERSION


class RecordingError(InvalidInput):
    """The file is not a memdive recording, is corrupt, or was written by a newer memdive."""


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: str
    schema_version: int
    meta: dict[str, str]
    samples: int
    first_time: float | None
    last_time: float | None
    processes: int               # distinct processes (pid + start time) ever seen


class Recording:
    """An open recording. `Recording(path)` validates it; errors are RecordingError with a hint."""

    def __init__(self, path: str):
        self.path = path
        check_input_file(path, "a recording")
        if os.path.getsize(path) == 0:
            raise RecordingError(f"{path} is empty: not a memdive recording", path=path)
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except PermissionError:
            raise AccessDenied(f"permission denied reading {path}", path=path,
                               hint="recordings are readable by their owner only: run as that user (or root)"
                               ) from None
        except OSError as e:
            raise MemdiveError(f"{path}: {e.strerror}", path=path) from None
        if head != b"SQLite format 3\x00":
            raise RecordingError(f"{path} is not a memdive recording (not an SQLite database)", path=path,
                                 hint="record one with `memdive record -o FILE.db`")
        writable = os.access(path, os.W_OK) and os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)
        uri = "file:" + os.path.abspath(path) + ("?mode=rw" if writable else "?mode=ro")
        if not writable and not os.path.exists(path + "-wal"):
            # A WAL database opened read-only still wants to create its -shm file; without write access
            # SQLite says "attempt to write a readonly database". No -wal file: no writer is active, so
            # the file cannot change under us and may be opened immutable.
            uri += "&immutable=1"
        try:
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            app = self.db.execute("PRAGMA application_id").fetchone()[0]
            ver = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise RecordingError(f"{path}: corrupt recording ({e})", path=path) from None
        if app != APPLICATION_ID:
            self.db.close()
            raise RecordingError(f"{path} is an SQLite database but not a memdive recording", path=path)
        if ver > SCHEMA_VERSION:
            self.db.close()
            raise RecordingError(
                f"{path} was written by a newer memdive (recording schema {ver}; this memdive reads "
                f"schema {SCHEMA_VERSION} and older)", path=path, hint="upgrade memdive to read it")
        if ver < 1:
            self.db.close()
            raise RecordingError(f"{path}: recording has no schema version (corrupt?)", path=path)
        self.schema_version = ver
        self.meta = dict(self.q("SELECT key, value FROM meta"))

    def check(self) -> list[str]:
        """SQLite's integrity check (reads the whole file): [] when sound, else the problems."""
        rows = [r[0] for r in self.q("PRAGMA integrity_check(20)")]
        return [] if rows == ["ok"] else rows

    def q(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.ProgrammingError:    # a bad argument (a sample tuple for its id): the caller's, not the file's
            raise
        except sqlite3.DatabaseError as e:
            raise RecordingError(f"{self.path}: corrupt recording ({e})", path=self.path) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what is in it ---------------------------------------------------------------------------

    def info(self) -> RecordingInfo:
        n, t0, t1 = self.q("SELECT count(*), min(t), max(t) FROM samples")[0]
        procs = self.q("SELECT count(*) FROM procs")[0][0]
        return RecordingInfo(path=self.path, schema_version=self.schema_version, meta=self.meta, samples=n,
                             first_time=t0, last_time=t1, processes=procs)

    def samples(self) -> list[tuple[int, float]]:
        return self.q("SELECT id, t FROM samples ORDER BY id")

    def sample_at(self, t: float | None) -> tuple[int, float]:
        """The last sample at or before time t (the first sample if t is earlier; the last if None)."""
        if t is None:
            rows = self.q("SELECT id, t FROM samples ORDER BY id DESC LIMIT 1")
        else:
            rows = self.q("SELECT id, t FROM samples WHERE t <= ? ORDER BY t DESC LIMIT 1", (t,)) or \
                self.q("SELECT id, t FROM samples ORDER BY t LIMIT 1")
        if not rows:
            raise InvalidInput(f"{self.path} holds no samples yet", path=self.path)
        return rows[0]

    def parse_time(self, text: str | None) -> float | None:
        """'end', 'start', '+30' / '+2m' (after the first sample), '-10s' (before the last), a Unix time,
        'HH:MM[:SS]' (local time, on the recording's days) or an ISO date-time."""
        if text is None or text == "end":
            return None
        info = self.info()
        if info.first_time is None or info.last_time is None:
            raise InvalidInput(f"{self.path} holds no samples yet", path=self.path)
        first, last = info.first_time, info.last_time
        if text == "start":
            return first
        import re

        m = re.fullmatch(r"([+-])(\d+(?:\.\d+)?)([smh]?)", text.strip())
        if m:
            secs = float(m.group(2)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(3)]
            return first + secs if m.group(1) == "+" else last - secs
        try:
            v = float(text)
            if v > 1e9:
                return v
        except ValueError:
            pass
        import datetime as dt

        m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?", text.strip())
        if m:
            t = first
            if int(m.group(1)) > 23 or int(m.group(2)) > 59 or float(m.group(3) or 0) >= 60:
                raise InvalidInput(f"not a time of day: {text!r} (HH:MM[:SS], 00:00 to 23:59:59)")
            for base in (first, last):
                day = dt.datetime.fromtimestamp(base).replace(hour=int(m.group(1)), minute=int(m.group(2)),
                                                               second=0, microsecond=0)
                t = day.timestamp() + float(m.group(3) or 0)
                if first - 1 <= t <= last + 1:
                    return t
            return t
        try:
            return dt.datetime.fromisoformat(text).timestamp()
        except ValueError:
            raise InvalidInput(f"not a time: {text!r} (use end, start, +30s, -2m, 14:05:00, or an ISO date)"
                               ) from None

    # --- the tables of `ps` and `sys` at one sample ------------------------------------------------

    def system_row(self, sid: int) -> dict:
        cols = list(MEMINFO_COLUMNS.values()) + list(PSI_COLUMNS)
        rows = self.q(f"SELECT {', '.join(cols)} FROM system WHERE sample_id=?", (sid,))
        if not rows:
            raise RecordingError(f"{self.path}: sample {sid} has no system row (corrupt?)", path=self.path)
        return dict(zip(cols, rows[0]))

    def vmstat_at(self, sid: int) -> dict[str, tuple[int, float | None]]:
        return {n: (v, r) for n, v, r in self.q(
            "SELECT n.name, v.value, v.rate FROM vmstat v JOIN vmstat_names n ON n.id = v.name_id "
            "WHERE v.sample_id=?", (sid,))}

    def processes_at(self, sid: int, pids: list[int] | None = None) -> list:
        """The processes of one sample as memdive.ps.ProcessMemory (PSS/USS 0 where not measured)."""
        from ..ps import ProcessMemory

        sql = ("SELECT p.pid, p.uid, p.user, p.command, s.rss_bytes, s.pss_bytes, s.uss_bytes, s.swap_bytes, "
               "s.swap_pss_bytes, s.pss_anon_bytes, s.pss_file_bytes, s.pss_shmem_bytes, p.cgroup "
               "FROM proc_samples s JOIN procs p ON p.id = s.proc_id WHERE s.sample_id=?")
        args: tuple = (sid,)
        if pids:
            sql += f" AND p.pid IN ({', '.join('?' * len(pids))})"
            args += tuple(pids)
        out = []
        for r in self.q(sql, args):
            out.append(ProcessMemory(pid=r[0], uid=r[1] if r[1] is not None else -1, user=r[2] or "",
                                     command=r[3] or "", rss_bytes=r[4], pss_bytes=r[5] or 0, uss_bytes=r[6] or 0,
                                     swap_bytes=r[7] or 0, swap_pss_bytes=r[8], pss_anon_bytes=r[9],
                                     pss_file_bytes=r[10], pss_shmem_bytes=r[11], cgroup=r[12]))
        return out

    def system_at(self, sid: int, top: int = 5):
        """The sample as memdive.overview.SystemMemory, for the `sys` renderer."""
        from ..models.system import Pressure, PressureLine
        from ..overview import VMSTAT_KEYS, SystemMemory
        from ..ps import sort_processes

        s = self.system_row(sid)
        vm = self.vmstat_at(sid)
        vmstat = {g: {k: vm[k][0] for k in keys if k in vm} for g, keys in VMSTAT_KEYS.items()}
        have_rates = any(r is not None for _, r in vm.values())
        rates = ({g: {k: vm[k][1] or 0.0 for k in keys if k in vm} for g, keys in VMSTAT_KEYS.items()}
                 if have_rates else None)
        psi = None
        if s["psi_some_avg10"] is not None:
            full = (PressureLine(s["psi_full_avg10"], s["psi_full_avg60"], s["psi_full_avg300"],
                                 s["psi_full_total_us"]) if s["psi_full_avg10"] is not None else None)
            psi = Pressure(some=PressureLine(s["psi_some_avg10"], s["psi_some_avg60"], s["psi_some_avg300"],
                                             s["psi_some_total_us"]), full=full)

        def g(k: str) -> int:
            return s.get(k) or 0

        cached = g("page_cache_bytes") + g("slab_reclaimable_bytes")
        used = max(0, g("total_bytes") - g("free_bytes") - g("buffers_bytes") - cached)
        procs = sort_processes(self.processes_at(sid), "pss")[:top] if top else []
        return SystemMemory(
            total_bytes=g("total_bytes"), used_bytes=used, free_bytes=g("free_bytes"),
            available_bytes=s.get("available_bytes"), buffers_bytes=g("buffers_bytes"),
            page_cache_bytes=g("page_cache_bytes"), shmem_bytes=g("shmem_bytes"),
            slab_reclaimable_bytes=g("slab_reclaimable_bytes"),
            slab_unreclaimable_bytes=g("slab_unreclaimable_bytes"), kernel_stack_bytes=g("kernel_stack_bytes"),
            page_tables_bytes=g("page_tables_bytes"), anon_bytes=g("anon_bytes"), anon_thp_bytes=g("anon_thp_bytes"),
            hugetlb_bytes=g("hugetlb_bytes"), hugetlb_pools=[], committed_bytes=g("committed_bytes"),
            commit_limit_bytes=g("commit_limit_bytes"), swap_total_bytes=g("swap_total_bytes"),
            swap_free_bytes=g("swap_free_bytes"), vmstat=vmstat, vmstat_rates=rates, pressure=psi,
            pressure_unavailable=None if psi else "not recorded (PSI unavailable when recording)",
            top=procs, top_note=None)

    # --- series ------------------------------------------------------------------------------------

    def system_series(self) -> dict[str, list]:
        cols = ["t"] + list(MEMINFO_COLUMNS.values()) + list(PSI_COLUMNS)
        rows = self.q(f"SELECT s.t, {', '.join('y.' + c for c in cols[1:])} FROM samples s "
                      "JOIN system y ON y.sample_id = s.id ORDER BY s.id")
        return {c: [r[i] for r in rows] for i, c in enumerate(cols)}

    def vmstat_series(self, name: str) -> tuple[list[float], list[float | None]]:
        rows = self.q("SELECT s.t, v.rate FROM vmstat v JOIN vmstat_names n ON n.id = v.name_id "
                      "JOIN samples s ON s.id = v.sample_id WHERE n.name=? ORDER BY s.id", (name,))
        return [r[0] for r in rows], [r[1] for r in rows]

    def top_processes(self, n: int = 5, by: str = "pss_bytes") -> list[tuple[int, int, str]]:
        """(proc id, pid, command) of the n processes with the largest peak `by`."""
        if by not in PROC_SAMPLE_COLUMNS:
            raise InvalidInput(f"unknown column {by!r}")
        return self.q(f"SELECT p.id, p.pid, p.command FROM proc_samples s JOIN procs p ON p.id = s.proc_id "
                      f"GROUP BY s.proc_id ORDER BY max(coalesce(s.{by}, s.rss_bytes)) DESC LIMIT ?", (n,))

    def procs_for_pids(self, pids: list[int]) -> list[tuple[int, int, str]]:
        out = []
        for pid in pids:
            rows = self.q("SELECT id, pid, command FROM procs WHERE pid=? ORDER BY first_sample", (pid,))
            if not rows:
                raise InvalidInput(f"process {pid} is not in {self.path}", path=self.path)
            out.extend(rows)
        return out

    def proc_series(self, proc_id: int, column: str = "pss_bytes") -> tuple[list[float], list]:
        if column not in PROC_SAMPLE_COLUMNS:
            raise InvalidInput(f"unknown column {column!r}")
        rows = self.q(f"SELECT s.t, p.{column} FROM proc_samples p JOIN samples s ON s.id = p.sample_id "
                      "WHERE p.proc_id=? ORDER BY s.id", (proc_id,))
        return [r[0] for r in rows], [r[1] for r in rows]

    # --- export ------------------------------------------------------------------------------------

    EXPORT_QUERIES: ClassVar[dict[str, str]] = {
        "samples": "SELECT id AS sample_id, t, interval_seconds, processes, denied, vanished, sampler_cpu_seconds "
                   "FROM samples ORDER BY id",
        "system": "SELECT s.t, y.* FROM system y JOIN samples s ON s.id = y.sample_id ORDER BY y.sample_id",
        "vmstat": "SELECT v.sample_id, s.t, n.name, v.value, v.rate FROM vmstat v JOIN vmstat_names n "
                  "ON n.id = v.name_id JOIN samples s ON s.id = v.sample_id ORDER BY v.sample_id, n.name",
        "processes": "SELECT s.id AS sample_id, s.t, p.pid, p.start_ticks, p.uid, p.user, p.comm, p.command, "
                     "p.cgroup, " + ", ".join("x." + c for c in PROC_SAMPLE_COLUMNS)
                     + " FROM proc_samples x JOIN procs p ON p.id = x.proc_id JOIN samples s ON s.id = x.sample_id "
                     "ORDER BY x.sample_id, p.pid",
    }

    def _table(self, name: str):
        try:
            cur = self.db.execute(self.EXPORT_QUERIES[name])
            cols = [d[0] for d in cur.description]
            return cols, cur
        except sqlite3.DatabaseError as e:
            raise RecordingError(f"{self.path}: corrupt recording ({e})", path=self.path) from None

    def export_csv(self, outdir: str) -> list[str]:
        """One CSV per table (samples, system, vmstat, processes) in outdir; returns the paths."""
        import csv

        _make_outdir(outdir)
        paths = []
        for name in self.EXPORT_QUERIES:
            cols, cur = self._table(name)
            path = os.path.join(outdir, f"{name}.csv")
            try:
                with open(path, "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(cols)
                    while True:
                        rows = cur.fetchmany(10000)
                        if not rows:
                            break
                        w.writerows(rows)
            except sqlite3.DatabaseError as e:
                raise RecordingError(f"{self.path}: corrupt recording ({e})", path=self.path) from None
            except OSError as e:
                raise MemdiveError(f"{path}: {e.strerror}", path=path) from None
            paths.append(path)
        return paths

    def export_parquet(self, outdir: str) -> list[str]:
        """One Parquet file per table; needs pyarrow (an optional dependency)."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InvalidInput("Parquet export needs pyarrow, which is not installed",
                               hint="pip install pyarrow, or export CSV with --csv") from None
        _make_outdir(outdir)
        paths = []
        for name in self.EXPORT_QUERIES:
            cols, cur = self._table(name)
            rows = cur.fetchall()
            table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
            path = os.path.join(outdir, f"{name}.parquet")
            try:
                pq.write_table(table, path)
            except OSError as e:
                raise MemdiveError(f"{path}: {e.strerror or e}", path=path) from None
            paths.append(path)
        return paths


def _make_outdir(outdir: str) -> None:
    """The export directory, created if missing; a file in its place or a refusal is a one-line error."""
    try:
        os.makedirs(outdir, exist_ok=True)
    except FileExistsError:
        raise InvalidInput(f"{outdir} exists and is not a directory", path=outdir,
                           hint="--csv/--parquet take a directory to write the tables into") from None
    except PermissionError:
        raise AccessDenied(f"permission denied creating {outdir}", path=outdir) from None
    except OSError as e:
        raise MemdiveError(f"{outdir}: cannot create the directory: {e.strerror}", path=outdir) from None
