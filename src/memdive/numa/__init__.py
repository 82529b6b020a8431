"""NUMA: nodes and their distances, a process's pages per node, migration, and running under a policy.

    memdive.numa.nodes()                 list[Node] (cpus, memory, distances, numastat, per-node meminfo)
    memdive.numa.placement(pid)          ProcessPlacement: pages per node per region (numa_maps)
    memdive.numa.migrate(pid, to=0)      MigrationResult: pages moved, failures by reason
    memdive.numa.exec_with_policy(cmd, membind=[0])   set policy and affinity, then exec
"""

from __future__ import annotations

from .migrate import migrate
from .nodes import distance_matrix, node_rates, nodes, parse_nodes_arg
from .placement import placement
from .run import exec_with_policy, prepare_policy

__all__ = ["nodes", "distance_matrix", "node_rates", "parse_nodes_arg", "placement", "migrate",
           "exec_with_policy", "prepare_policy"]
