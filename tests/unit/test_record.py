"""The recorder on snapshots read from a fixture /proc: write, read back, replay tables, export, and the
clear errors for corrupt, foreign and newer-schema files."""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path

import pytest

from memdive.errors import InvalidInput
from memdive.kernel.root import KernelRoot
from memdive.monitor.sampler import Sampler
from memdive.record import SCHEMA_VERSION, Recorder, Recording, RecordingError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "monitor-basic"


@pytest.fixture
def recording(tmp_path):
    path = str(tmp_path / "rec.db")
    with Sampler(KernelRoot.at(str(FIX))) as s, Recorder(path, interval=1.0) as rec:
        snaps = [s.sample() for _ in range(3)]
        for snap in snaps:
            rec.write(snap)
    return path, snaps


def test_written_samples_read_back(recording):
    path, snaps = recording
    with Recording(path) as r:
        info = r.info()
        assert info.samples == 3 and info.processes == 2 and info.schema_version == SCHEMA_VERSION
        assert info.meta["interval_seconds"] == "1.0"
        assert abs(info.first_time - snaps[0].time) < 1e-6 and abs(info.last_time - snaps[-1].time) < 1e-6
        sid, _ = r.sample_at(None)
        assert sid == 3
        procs = {p.pid: p for p in r.processes_at(sid)}
        want = {p.pid: p for p in snaps[-1].processes}
        assert set(procs) == set(want) == {4242, 4243}
        for pid, p in procs.items():
            assert p.rss_bytes == want[pid].rss_bytes
            assert p.pss_bytes == want[pid].pss_bytes
            assert p.uss_bytes == want[pid].uss_bytes
            assert p.swap_bytes == want[pid].swap_bytes
            assert p.command == want[pid].command
        sysm = r.system_at(sid)
        mi = snaps[-1].system.meminfo
        assert sysm.total_bytes == mi["MemTotal"] and sysm.available_bytes == mi["MemAvailable"]
        assert sysm.swap_total_bytes - sysm.swap_free_bytes == 256 << 20
        assert sysm.vmstat["faults"]["pgfault"] == snaps[-1].system.vmstat["pgfault"]
        assert sysm.vmstat_rates["faults"]["pgfault"] == 0.0
        assert sysm.pressure is not None
        assert sysm.top[0].pid in (4242, 4243)
        # a time between samples picks the one at or before it; before the first picks the first
        assert r.sample_at(snaps[1].time + 1e-4)[0] == 2
        assert r.sample_at(0.0)[0] == 1


def test_replay_renders_with_the_sys_and_ps_renderers(recording):
    import io

    from memdive.ps import totals
    from memdive.report.overview import overview_renderables
    from memdive.report.ps import ps_table
    from memdive.report.tables import console

    path, _ = recording
    with Recording(path) as r:
        sid, _ = r.sample_at(None)
        procs = r.processes_at(sid)
        buf = io.StringIO()
        c = console(file=buf)
        for x in overview_renderables(r.system_at(sid)):
            c.print(x)
        c.print(ps_table(procs, None, None, totals(procs)))
    out = buf.getvalue()
    assert "Memory" in out and "server --port 8080" in out


def test_parse_time(recording):
    path, snaps = recording
    with Recording(path) as r:
        assert r.parse_time(None) is None and r.parse_time("end") is None
        assert r.parse_time("start") == pytest.approx(snaps[0].time)
        assert r.parse_time("+1") == pytest.approx(snaps[0].time + 1)
        assert r.parse_time("-1m") == pytest.approx(snaps[-1].time - 60)
        assert r.parse_time(str(snaps[1].time)) == pytest.approx(snaps[1].time)
        with pytest.raises(InvalidInput):
            r.parse_time("yesterday-ish")


def test_csv_export_has_every_row(recording, tmp_path):
    path, snaps = recording
    with Recording(path) as r:
        files = r.export_csv(str(tmp_path / "csv"))
    names = sorted(Path(f).name for f in files)
    assert names == ["processes.csv", "samples.csv", "system.csv", "vmstat.csv"]
    rows = list(csv.DictReader((tmp_path / "csv/processes.csv").read_text().splitlines()))
    assert len(rows) == sum(len(s.processes) for s in snaps)
    assert {int(r["pid"]) for r in rows} == {4242, 4243}
    assert len(list(csv.DictReader((tmp_path / "csv/samples.csv").read_text().splitlines()))) == 3


def test_parquet_export_writes_every_table(recording, tmp_path):
    import pyarrow.parquet as pq  # in the test extras: the export itself is tested, not only its absence

    path, snaps = recording
    with Recording(path) as r:
        files = r.export_parquet(str(tmp_path / "pq"))
    names = sorted(os.path.basename(f) for f in files)
    assert "processes.parquet" in names and "samples.parquet" in names
    t = pq.read_table(str(tmp_path / "pq" / "processes.parquet"))
    assert t.num_rows == sum(len(s.processes) for s in snaps)
    assert set(t.column("pid").to_pylist()) == {4242, 4243}
    assert pq.read_table(str(tmp_path / "pq" / "samples.parquet")).num_rows == 3


def test_append_continues_and_existing_file_is_refused(recording):
    path, snaps = recording
    with pytest.raises(InvalidInput, match="exists"):
        Recorder(path)
    with Recorder(path, append=True) as rec:
        rec.write(snaps[-1])
    with Recording(path) as r:
        assert r.info().samples == 4


def test_not_a_database(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not sqlite at all\n" * 100)
    with pytest.raises(RecordingError, match="not a memdive recording"):
        Recording(str(p))
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(RecordingError, match="empty"):
        Recording(str(tmp_path / "empty.db"))
    with pytest.raises(InvalidInput, match="no such file"):
        Recording(str(tmp_path / "missing.db"))


def test_foreign_sqlite_database(tmp_path):
    p = str(tmp_path / "other.db")
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE t(x)")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="not a memdive recording"):
        Recording(p)


def test_newer_schema_is_refused_with_a_hint(recording):
    path, _ = recording
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match="newer memdive") as e:
        Recording(path)
    assert "upgrade" in e.value.one_line()


def test_corrupt_pages_give_a_clear_error(recording):
    path, _ = recording
    # checkpointed on close: the data is in the main file. Overwrite every page after the first.
    data = bytearray(Path(path).read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for off in range(page, len(data), 64):
        data[off:off + 8] = b"\xde\xad\xbe\xef" * 2
    Path(path).write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="corrupt"), Recording(path) as r:
        r.info()
        r.processes_at(r.sample_at(None)[0])
