"""Watch memory live: the cheap sampler behind `memdive top`, `memdive record` and `memdive exporter`.

    from memdive.monitor import Sampler
    with Sampler(interval=1.0) as s:
        snap = s.sample()          # memdive.models.monitor.Snapshot
"""

from __future__ import annotations

from .sampler import Sampler, SamplerConfig, run_every

__all__ = ["Sampler", "SamplerConfig", "run_every"]
