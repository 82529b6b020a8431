"""hugetlb pools and mounts: /sys/kernel/mm/hugepages/hugepages-<N>kB, the per-node pools under
/sys/devices/system/node/nodeN/hugepages, hugetlbfs entries of /proc/mounts, and pool size writes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing, ParseError
from .io import read_bytes, read_optional, write_text
from .root import KernelRoot, resolve
from .thp import parse_int, size_dir_bytes

if TYPE_CHECKING:  # imported where the records are built: `memdive sys` reads counts without them
    from ..models.hugepages import HugetlbMount, HugetlbPool

HUGETLB_DIR = "kernel/mm/hugepages"
NODE_DIR = "devices/system/node"
HUGETLB_HINT = "the kernel has no hugetlb pages (CONFIG_HUGETLBFS=n)"
WRITE_HINT = "changing a hugetlb pool needs root"


def _unescape(s: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (\\040 ...)."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _opt_size(v: str) -> int | None:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    v = v.strip()
    try:
        if v and v[-1].upper() in units:
            return int(v[:-1]) * units[v[-1].upper()]
        return int(v)
    except ValueError:
        return None


def parse_hugetlb_mounts(data: bytes, path: str = "mounts") -> list[HugetlbMount]:
    """The hugetlbfs lines of /proc/mounts (or /proc/self/mounts)."""
    from ..models.hugepages import HugetlbMount

    out: list[HugetlbMount] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.decode("utf-8", "surrogateescape").split(" ")
        if len(parts) < 4:
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        if parts[2] != "hugetlbfs":
            continue
        opts = tuple(parts[3].split(","))
        size = None
        for o in opts:
            if o.startswith("pagesize="):
                size = _opt_size(o[9:])
        out.append(
            HugetlbMount(
                source=_unescape(parts[0]), mountpoint=_unescape(parts[1]), options=opts, page_size_bytes=size
            )
        )
    return out


def read_hugetlb_mounts(root: KernelRoot | None = None) -> list[HugetlbMount]:
    p = resolve(root).proc_path("mounts")
    return parse_hugetlb_mounts(read_bytes(p), p)


def _num(path: str) -> int:
    return parse_int(read_bytes(path), path)


def _num_or0(path: str) -> int:
    data = read_optional(path)
    return parse_int(data, path) if data is not None else 0


def node_ids(root: KernelRoot | None = None) -> list[int]:
    """The nodes with a sysfs directory (node0, node1, ...); [] where there is no NUMA sysfs."""
    base = resolve(root).sys_path(NODE_DIR)
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return sorted(int(n[4:]) for n in names if n.startswith("node") and n[4:].isdigit())


def pool_sizes(root: KernelRoot | None = None) -> list[int]:
    """The huge page sizes the kernel offers, ascending (bytes)."""
    base = resolve(root).sys_path(HUGETLB_DIR)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        raise KernelFeatureMissing(
            f"{base} does not exist on this kernel", path=base, hint=HUGETLB_HINT
        ) from None
    except OSError as exc:
        from .io import translate

        raise translate(exc, base) from None
    return sorted(s for s in (size_dir_bytes(n) for n in names) if s)


def read_pool(size_bytes: int, root: KernelRoot | None = None, *, nodes: bool = True) -> HugetlbPool:
    """The pool of one page size (InvalidInput if the kernel has none); nodes=False skips the per-node
    counts (HugetlbPool.nodes stays empty)."""
    from ..models.hugepages import HugetlbNodePool, HugetlbPool

    r = resolve(root)
    d = r.sys_path(f"{HUGETLB_DIR}/hugepages-{size_bytes // 1024}kB")
    if not os.path.isdir(d):
        raise InvalidInput(
            f"no hugetlb pool of {size_bytes // 1024} kB on this kernel",
            path=d,
            hint="sizes offered: " + ", ".join(f"{s // 1024}kB" for s in pool_sizes(r)),
        )
    per_node = []
    for n in node_ids(r) if nodes else ():
        nd = r.sys_path(f"{NODE_DIR}/node{n}/hugepages/hugepages-{size_bytes // 1024}kB")
        if os.path.isdir(nd):
            per_node.append(HugetlbNodePool(node=n, **_node_counts(nd)))
    return HugetlbPool(size_bytes=size_bytes, **read_pool_counts(size_bytes, r), nodes=tuple(per_node))


def read_pool_counts(size_bytes: int, root: KernelRoot | None = None) -> dict[str, int]:
    """The global counts of one pool, in pages: total, free, reserved, surplus, overcommit."""
    d = resolve(root).sys_path(f"{HUGETLB_DIR}/hugepages-{size_bytes // 1024}kB")
    return {
        "total": _num(f"{d}/nr_hugepages"),
        "free": _num(f"{d}/free_hugepages"),
        "reserved": _num_or0(f"{d}/resv_hugepages"),
        "surplus": _num_or0(f"{d}/surplus_hugepages"),
        "overcommit": _num_or0(f"{d}/nr_overcommit_hugepages"),
    }


def _node_counts(nd: str) -> dict[str, int]:
    return {"total": _num(f"{nd}/nr_hugepages"), "free": _num(f"{nd}/free_hugepages"),
            "surplus": _num_or0(f"{nd}/surplus_hugepages")}


def read_node_pool_counts(node: int, root: KernelRoot | None = None) -> dict[int, dict[str, int]]:
    """One node's pools (sysfs nodeN/hugepages), ascending page size: {size: {total, free, surplus}} in
    pages; {} where the node has none."""
    hdir = resolve(root).sys_path(f"{NODE_DIR}/node{node}/hugepages")
    try:
        names = os.listdir(hdir)
    except OSError:
        return {}
    sizes = sorted(s for s in (size_dir_bytes(n) for n in names) if s)
    return {s: _node_counts(f"{hdir}/hugepages-{s // 1024}kB") for s in sizes}


def read_pools(root: KernelRoot | None = None) -> list[HugetlbPool]:
    r = resolve(root)
    return [read_pool(s, r) for s in pool_sizes(r)]


def find_pool(size_bytes: int, root: KernelRoot | None = None) -> HugetlbPool | None:
    """The pool of one page size without per-node counts; None where the kernel has no such pool."""
    r = resolve(root)
    if not os.path.isdir(r.sys_path(f"{HUGETLB_DIR}/hugepages-{size_bytes // 1024}kB")):
        return None
    return read_pool(size_bytes, r, nodes=False)


def default_size(root: KernelRoot | None = None) -> int:
    """Hugepagesize from /proc/meminfo in bytes (the default hugetlb page size); 2 MiB if it says none."""
    data = read_optional(resolve(root).proc_path("meminfo")) or b""
    for line in data.split(b"\n"):
        if line.startswith(b"Hugepagesize:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                break
    return 2 << 20


def pool_path(size_bytes: int, node: int | None, root: KernelRoot | None = None) -> str:
    r = resolve(root)
    if node is None:
        return r.sys_path(f"{HUGETLB_DIR}/hugepages-{size_bytes // 1024}kB/nr_hugepages")
    return r.sys_path(f"{NODE_DIR}/node{node}/hugepages/hugepages-{size_bytes // 1024}kB/nr_hugepages")


def write_nr_hugepages(
    size_bytes: int, count: int, node: int | None = None, root: KernelRoot | None = None
) -> None:
    """Set the pool size (globally or on one node). The kernel may allocate fewer: read back."""
    if count < 0:
        raise InvalidInput(f"a pool cannot hold {count} pages")
    p = pool_path(size_bytes, node, root)
    if not os.path.exists(p):
        where = f" on node {node}" if node is not None else ""
        raise InvalidInput(f"no hugetlb pool of {size_bytes // 1024} kB{where}", path=p)
    try:
        write_text(p, str(count), what=WRITE_HINT)
    except AccessDenied:
        raise AccessDenied(f"permission denied writing {p}", path=p, hint=WRITE_HINT) from None
