"""Recordings: samples of system and per-process memory in an SQLite file that outlives the incident.

    from memdive.record import Recorder, Recording
    with Recorder("mem.db", interval=1.0) as rec:
        rec.write(sampler.sample())
    with Recording("mem.db") as r:
        sid, t = r.sample_at(None)          # the last sample
        r.processes_at(sid)                 # memdive.ps.ProcessMemory, as `memdive ps` shows them
        r.system_at(sid)                    # memdive.overview.SystemMemory, as `memdive sys` shows it

The file format is described in memdive.record.schema (WAL, versioned, one sample per transaction).
"""

from __future__ import annotations

from .reader import Recording, RecordingError, RecordingInfo
from .recorder import Recorder
from .schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Recorder", "Recording", "RecordingError", "RecordingInfo", "record"]


def record(path: str, *, interval: float = 1.0, duration: float | None = None, pids: list[int] | None = None,
           append: bool = False, overwrite: bool = False, stop=None, on_sample=None, root=None) -> int:
    """Sample every `interval` seconds into `path` until `duration` passes or `stop` (an Event) is set.

    With `pids`, recording stops once every chosen process has exited. Returns the number of samples written. Each sample is one transaction: killing the recorder at any
    moment leaves a file holding whole samples.
    """
    import threading
    import time

    from ..monitor.sampler import Sampler, SamplerConfig

    stop = stop or threading.Event()
    cfg = SamplerConfig(pids=pids, interval=interval, with_cgroup=True)   # cgroup read once per process
    with Sampler(root, cfg) as sampler, Recorder(path, interval=interval, append=append,
                                                 overwrite=overwrite) as rec:
        t_end = time.monotonic() + duration if duration is not None else None
        nxt = time.monotonic()
        while not stop.is_set():
            snap = sampler.sample()
            rec.write(snap)
            if on_sample is not None:
                on_sample(snap, rec.samples)
            if t_end is not None and time.monotonic() + 1e-3 >= t_end:
                break
            if pids and not snap.processes:
                break                       # every chosen process has exited
            nxt += interval
            now = time.monotonic()
            if nxt < now:
                nxt = now + interval - ((now - nxt) % interval)
            if t_end is not None and nxt > t_end:
                nxt = t_end
            stop.wait(max(0.0, nxt - now))
        return rec.samples
