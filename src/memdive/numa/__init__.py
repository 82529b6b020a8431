"""NUMA: nodes and their distances, a process's pages per node, migration, and running under a policy.

    memdive.numa.nodes()                 list[Node] (cpus, memory, distances, numastat, per-node meminfo)
    memdive.numa.placement(pid)          ProcessPlacement: pages per node per region (numa_maps)
    memdive.numa.migrate(pid, to=0)      MigrationResult: pages moved, failures by reason
    memdive.numa.exec_with_policy(cmd, membind=[0])   set policy and affinity, then exec
"""

from __future__ import annotations

from .. import _lazy_getattr

_LAZY = {"nodes": "topology", "distance_matrix": "topology", "node_rates": "topology", "parse_nodes_arg": "topology",
         "placement": "process", "migrate": "migration", "exec_with_policy": "run", "prepare_policy": "run"}
__all__ = list(_LAZY)


__getattr__ = _lazy_getattr(__name__, _LAZY)   # imported on first use: `memdive numa` starts fast
