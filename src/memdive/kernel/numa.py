"""NUMA: sysfs nodes (cpulist, meminfo, distance, numastat, hugepages), /proc/PID/numa_maps, and the
NUMA syscalls (mbind, set_mempolicy, get_mempolicy, move_pages, migrate_pages) through libc.syscall.

Pure parsers `parse_x(data: bytes) -> records` plus thin readers taking a KernelRoot.
"""

from __future__ import annotations

import array
import ctypes
import errno
import os
import re

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing, MemdiveError, NoSuchProcess, ParseError
from ..models.numa import HugePool, MemPolicy, Node, NumaMapping, format_nodelist
from .io import check_zombie, read_bytes, translate
from .root import KernelRoot, resolve

_KB = 1024
NODE_DIR = "devices/system/node"

# --- lists and small sysfs files -------------------------------------------------------------------


def parse_list(text: str | bytes, path: str = "list") -> tuple[int, ...]:
    """The kernel's list format ('0-3,8,10-11'; bitmap_parselist strides '0-7:2/4' too) -> sorted ints."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = text.strip()
    out: set[int] = set()
    if not text:
        return ()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?\s*", part)
        if not m:
            raise ParseError(f"{path}: malformed list {text[:80]!r}", path=path)
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ParseError(f"{path}: malformed range {part!r}", path=path)
        if m.group(3) is not None:
            used, group = int(m.group(3)), int(m.group(4))
            if group <= 0 or used > group:
                raise ParseError(f"{path}: malformed stride {part!r}", path=path)
            out.update(i for i in range(lo, hi + 1) if (i - lo) % group < used)
        else:
            out.update(range(lo, hi + 1))
    return tuple(sorted(out))


def parse_node_meminfo(data: bytes, path: str = "meminfo") -> dict[str, int]:
    """'Node 0 MemTotal:  4679892 kB' lines -> {'MemTotal': bytes, 'HugePages_Total': pages, ...}:
    /proc/meminfo's format behind a 'Node N ' prefix."""
    from .sysmm import parse_meminfo

    lines = data.split(b"\n")
    body = []
    for line in lines:
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[0] != b"Node" or not parts[1].isdigit():
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        body.append(parts[2])
    return dict(parse_meminfo(b"\n".join(body), path).values)


def parse_numastat(data: bytes, path: str = "numastat") -> dict[str, int]:
    """'numa_hit 2035856' lines (pages) -> dict: the vmstat format."""
    from .sysmm import parse_vmstat

    return parse_vmstat(data, path)


def parse_distance(data: bytes, path: str = "distance") -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in data.split())
    except ValueError:
        raise ParseError(f"{path}: malformed distances {data[:80]!r}", path=path) from None
    if not vals:
        raise ParseError(f"{path}: empty", path=path)
    return vals


def _opt(path: str) -> bytes | None:
    try:
        return read_bytes(path)
    except (KernelFeatureMissing, AccessDenied):
        return None


def _node_ids(r: KernelRoot) -> list[int]:
    base = r.sys_path(NODE_DIR)
    try:
        names = os.listdir(base)
    except OSError as exc:
        raise translate(exc, base, what="the kernel has no NUMA sysfs (CONFIG_NUMA=n)") from None
    return sorted(int(n[4:]) for n in names if n.startswith("node") and n[4:].isdigit())


def _hugepools(node_id: int, r: KernelRoot) -> tuple[HugePool, ...]:
    from .hugetlb import read_node_pool_counts  # one reader of the hugetlb pools: kernel.hugetlb

    return tuple(HugePool(page_size_bytes=size, total_pages=c["total"], free_pages=c["free"],
                          surplus_pages=c["surplus"]) for size, c in read_node_pool_counts(node_id, r).items())


def _synthetic_node(r: KernelRoot) -> Node:
    from .sysmm import read_meminfo

    mi = read_meminfo(r)
    cpus_b = _opt(r.sys_path("devices/system/cpu/online"))
    cpus = parse_list(cpus_b) if cpus_b else tuple(range(os.cpu_count() or 1))
    total, free = mi.total_bytes, mi.free_bytes
    return Node(id=0, cpus=cpus, mem_total_bytes=total, mem_free_bytes=free, mem_used_bytes=total - free,
                distances={0: 10}, meminfo=dict(mi.values), synthetic=True)


def read_node(node_id: int, root: KernelRoot | None = None, *, online: set[int] | None = None,
              has_memory: set[int] | None = None, has_cpu: set[int] | None = None) -> Node:
    r = resolve(root)
    ndir = r.sys_path(f"{NODE_DIR}/node{node_id}")
    if not os.path.isdir(ndir):
        raise InvalidInput(f"NUMA node {node_id} does not exist", path=ndir,
                           hint=f"nodes here: {format_nodelist(_node_ids(r)) or 'none'}")
    cpul = _opt(f"{ndir}/cpulist")
    cpus = parse_list(cpul, f"{ndir}/cpulist") if cpul is not None else ()
    mi_b = _opt(f"{ndir}/meminfo")
    mi = parse_node_meminfo(mi_b, f"{ndir}/meminfo") if mi_b is not None else {}
    ns_b = _opt(f"{ndir}/numastat")
    ns = parse_numastat(ns_b, f"{ndir}/numastat") if ns_b is not None else {}
    d_b = _opt(f"{ndir}/distance")
    dist_vals = parse_distance(d_b, f"{ndir}/distance") if d_b is not None else ()
    total = mi.get("MemTotal", 0)
    free = mi.get("MemFree", 0)
    used = mi.get("MemUsed", max(0, total - free))
    ids = sorted(online) if online else _node_ids(r)
    # distance lists one value per *online* node, in node order (possible nodes with holes are skipped).
    distances = dict(zip(ids, dist_vals)) if len(ids) == len(dist_vals) else dict(enumerate(dist_vals))
    return Node(
        id=node_id, cpus=cpus, mem_total_bytes=total, mem_free_bytes=free, mem_used_bytes=used,
        distances=distances, numastat=ns, meminfo=mi, hugepages=_hugepools(node_id, r),
        has_memory=(node_id in has_memory) if has_memory is not None else total > 0,
        has_cpu=(node_id in has_cpu) if has_cpu is not None else bool(cpus),
        online=(node_id in online) if online is not None else True,
    )


def read_nodes(root: KernelRoot | None = None) -> list[Node]:
    """Every NUMA node with CPUs, memory total/free/used (bytes), distances, numastat and per-node meminfo.

    On a kernel without NUMA sysfs (CONFIG_NUMA=n) returns one synthetic node from /proc/meminfo.
    """
    r = resolve(root)
    base = r.sys_path(NODE_DIR)
    if not os.path.isdir(base):
        return [_synthetic_node(r)]

    def nodeset(name: str) -> set[int] | None:
        b = _opt(f"{base}/{name}")
        return set(parse_list(b, f"{base}/{name}")) if b is not None else None

    online = nodeset("online")
    has_memory, has_cpu = nodeset("has_memory"), nodeset("has_cpu")
    ids = _node_ids(r)
    return [read_node(i, r, online=online or set(ids), has_memory=has_memory, has_cpu=has_cpu) for i in ids]


NUMA_SETTINGS = {
    "numa_balancing": "proc:sys/kernel/numa_balancing",        # 0 off, 1 NUMA balancing, 2 memory tiering
    "zone_reclaim_mode": "proc:sys/vm/zone_reclaim_mode",      # 0: allocate off-node before reclaiming locally
    "demotion_enabled": "sys:kernel/mm/numa/demotion_enabled",  # tiered memory: reclaim demotes to slower nodes
}


def read_numa_settings(root: KernelRoot | None = None) -> dict[str, str | None]:
    """The kernel's NUMA knobs (value as text; None where this kernel lacks one)."""
    r = resolve(root)
    out: dict[str, str | None] = {}
    for name, where in NUMA_SETTINGS.items():
        kind, _, rel = where.partition(":")
        b = _opt(r.proc_path(rel) if kind == "proc" else r.sys_path(rel))
        out[name] = b.decode("ascii", "replace").strip() if b is not None else None
    return out


# --- numa_maps -------------------------------------------------------------------------------------

_COUNTER = re.compile(rb"^([A-Za-z_]+\d*|N\d+)=(\d+)$")
_POLICY = re.compile(rb"^[a-z][a-z ()]*(=[a-z|]+)?(:[0-9,-]+)?$")
_OCTAL = re.compile(r"\\([0-7]{3})")
_MODES_TEXT = {
    "default": "default", "prefer": "preferred", "bind": "bind", "interleave": "interleave", "local": "local",
    "prefer (many)": "preferred_many", "weighted interleave": "weighted_interleave",
}


def unescape(s: str) -> str:
    r"""seq_path escapes space, tab, newline, '=' and backslash as \ooo octal ('/tmp/a\040b' -> '/tmp/a b')."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), s) if "\\" in s else s


def parse_policy(text: str) -> MemPolicy:
    """mpol_to_str output ('bind:0-1', 'prefer (many)=static:0,2', 'interleave=relative|balancing:0-3',
    'weighted interleave:0-1', 'default', 'local') -> MemPolicy."""
    head, _, nodes = text.partition(":")
    mode, _, flags = head.partition("=")
    name = _MODES_TEXT.get(mode.strip(), mode.strip())
    return MemPolicy(mode=name, nodes=parse_list(nodes) if nodes else (),
                     flags=tuple(f for f in flags.split("|") if f))


_FIELDS = {b"anon": "anon_pages", b"dirty": "dirty_pages", b"mapped": "mapped_pages", b"mapmax": "mapmax",
           b"swapcache": "swapcache_pages", b"active": "active_pages", b"writeback": "writeback_pages"}


def _parse_numa_line(line: bytes, path: str) -> NumaMapping:
    toks = line.split(b" ")
    try:
        start = int(toks[0], 16)
    except ValueError:
        raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path) from None
    i, n = 1, len(toks)
    # The policy may hold spaces ("prefer (many)", "weighted interleave"): it runs to the first field.
    pol: list[bytes] = []
    while i < n and not (toks[i].startswith(b"file=") or toks[i] in (b"heap", b"stack", b"huge")
                         or _COUNTER.match(toks[i])):
        pol.append(toks[i])
        i += 1
    if not pol or not _POLICY.match(b" ".join(pol)):
        raise ParseError(f"{path}: no valid policy in {line[:80]!r}", path=path)
    rec: dict = {"start": start, "policy": b" ".join(pol).decode("ascii", "replace")}
    huge_tail = False
    if i < n and toks[i].startswith(b"file="):
        # seq_path escapes spaces (\040); a kernel or tool that did not is still parsed right: the path
        # runs to the first counter token, and a trailing " huge" is the hugetlb flag.
        parts = [toks[i][5:]]
        i += 1
        while i < n and not _COUNTER.match(toks[i]):
            parts.append(toks[i])
            i += 1
        huge_tail = len(parts) > 1 and parts[-1] == b"huge"
        if huge_tail:
            parts.pop()
            rec["huge"] = True
        rec["file"] = unescape(b" ".join(parts).decode("utf-8", "surrogateescape"))
    nodes: dict[int, int] = {}
    other: dict[str, int] = {}
    for t in toks[i:]:
        if not t:
            continue
        if t == b"heap":
            rec["heap"] = True
            continue
        if t == b"stack":
            rec["stack"] = True
            continue
        if t == b"huge":
            rec["huge"] = True
            continue
        m = _COUNTER.match(t)
        if not m:
            raise ParseError(f"{path}: malformed field {t[:40]!r} in {line[:80]!r}", path=path)
        k, v = m.group(1), int(m.group(2))
        if k[:1] == b"N" and k[1:].isdigit():
            nodes[int(k[1:])] = v
        elif k == b"kernelpagesize_kB":
            rec["page_size_bytes"] = v * _KB
        elif k in _FIELDS:
            rec[_FIELDS[k]] = v
        else:
            other[k.decode("ascii", "replace")] = v   # unknown keys (newer kernels) kept, not fatal
    rec["pages_by_node"] = nodes
    rec["other"] = other
    if rec.get("huge") and rec.get("file") is not None and huge_tail and rec.get("page_size_bytes", 4096) <= 4096:
        # an unescaped path ending in " huge" on a base-page mapping: the word was part of the name
        rec["huge"] = False
        rec["file"] += " huge"
    return NumaMapping(**rec)


def parse_numa_maps(data: bytes, path: str = "numa_maps") -> list[NumaMapping]:
    """Parse /proc/PID/numa_maps. Counts stay in pages of each line's kernelpagesize_kB."""
    return [_parse_numa_line(line, path) for line in data.split(b"\n") if line.strip()]


def read_numa_maps(pid: int, root: KernelRoot | None = None) -> list[NumaMapping]:
    path = resolve(root).pid_path(pid, "numa_maps")
    data = read_bytes(path, pid=pid,
                      what="another user's numa_maps needs root (ptrace-read access); the file needs CONFIG_NUMA")
    if not data:
        check_zombie(resolve(root).proc, pid, data, "numa_maps")   # a zombie's is empty: never zeroed data
    return parse_numa_maps(data, path)


def read_numa_maps_joined(pid: int, root: KernelRoot | None = None) -> list[NumaMapping]:
    """numa_maps with each region's end and name from /proc/PID/maps (same start addresses)."""
    import dataclasses

    from .procfs import read_maps

    nm = read_numa_maps(pid, root)
    by_start = {m.start: m for m in read_maps(pid, root)}
    out = []
    for rec in nm:
        mp = by_start.get(rec.start)
        if mp is not None:
            rec = dataclasses.replace(rec, end=mp.end, name=mp.name)
        out.append(rec)
    return out


# --- syscalls --------------------------------------------------------------------------------------

MODES = {"default": 0, "preferred": 1, "bind": 2, "interleave": 3, "local": 4, "preferred_many": 5,
         "weighted_interleave": 6}
MODE_NAMES = {v: k for k, v in MODES.items()}
_MODE_ALIASES = {"prefer": "preferred", "membind": "bind", "localalloc": "local", "prefer_many": "preferred_many",
                 "prefer_(many)": "preferred_many", "weighted": "weighted_interleave"}
MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING = 1 << 15, 1 << 14, 1 << 13
MODE_FLAGS = {"static": MPOL_F_STATIC_NODES, "relative": MPOL_F_RELATIVE_NODES,
              "balancing": MPOL_F_NUMA_BALANCING}
MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL = 1, 2, 4
MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED = 1, 2, 4
MAX_NODES = 1024          # CONFIG_NODES_SHIFT=10 (Debian, most distributions)
_ULONG_BITS = ctypes.sizeof(ctypes.c_ulong) * 8
_MASK_LONGS = MAX_NODES // _ULONG_BITS
NODEMASK_T = ctypes.c_ulong * _MASK_LONGS

_NICE_HINT = "moving another user's pages needs CAP_SYS_NICE: run as root"


def _mask(nodes) -> ctypes.Array[ctypes.c_ulong]:
    m = NODEMASK_T()
    for nd in nodes:
        nd = int(nd)
        if not 0 <= nd < MAX_NODES:
            raise InvalidInput(f"NUMA node {nd} is out of range (0..{MAX_NODES - 1})")
        m[nd // _ULONG_BITS] |= 1 << (nd % _ULONG_BITS)
    return m


def _unmask(m) -> tuple[int, ...]:
    return tuple(i * _ULONG_BITS + b for i, w in enumerate(m) for b in range(_ULONG_BITS) if w >> b & 1)


def _mode(mode: str | int) -> int:
    if isinstance(mode, int):
        return mode
    key = mode.replace("-", "_").replace(" ", "_").lower()
    try:
        return MODES[_MODE_ALIASES.get(key, key)]
    except KeyError:
        raise InvalidInput(f"unknown memory policy mode {mode!r}",
                           hint="one of " + ", ".join(MODES)) from None


def _call(name: str, *args, pid: int | None = None, nodes=None) -> int:
    """Raw syscall with errno mapped to what it means for the NUMA calls."""
    from .libc import libc, syscall_nr

    ret = libc().syscall(ctypes.c_long(syscall_nr(name)), *args)
    if ret >= 0:
        return ret
    e = ctypes.get_errno()
    what = f"{name}" + (f" (nodes {format_nodelist(nodes)})" if nodes else "")
    if e == errno.ENOSYS:
        raise KernelFeatureMissing(f"{name}: the kernel has no NUMA syscalls (CONFIG_NUMA=n)")
    if e == errno.ESRCH:
        raise NoSuchProcess(f"process {pid} does not exist", pid=pid)
    if e in (errno.EPERM, errno.EACCES):
        raise AccessDenied(f"{what}: {os.strerror(e)}" + (f" for process {pid}" if pid else ""), pid=pid,
                           hint=_NICE_HINT if name in ("move_pages", "migrate_pages")
                           else "MPOL_MF_MOVE_ALL needs CAP_SYS_NICE")
    if e == errno.EINVAL:
        raise InvalidInput(f"{what}: invalid argument (a node that is offline, has no memory or is outside "
                           f"the allowed cpuset, or a mode that takes no nodes)")
    if e == errno.ENODEV:
        raise InvalidInput(f"{what}: a target node is offline or has no memory")
    if e == errno.EFAULT:
        raise InvalidInput(f"{what}: the address range is not (entirely) mapped")
    if e == errno.EIO:
        raise MemdiveError(f"{what}: pages are on other nodes and could not be moved (MPOL_MF_STRICT)")
    if e == errno.EXDEV:
        raise MemdiveError(f"{what}: migration failed")
    raise MemdiveError(f"{what}: {os.strerror(e)}", pid=pid)


def mbind(addr: int, length: int, mode: str | int, nodes=(), flags: int = 0, *, mode_flags: int = 0) -> None:
    """Set the memory policy of [addr, addr+length) (page aligned): mode 'bind', 'interleave', 'preferred',
    'preferred_many', 'weighted_interleave', 'local' or 'default'; nodes an iterable of node ids;
    flags MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL; mode_flags MPOL_F_STATIC_NODES etc."""
    nodes = tuple(nodes)
    m = _mode(mode)
    mask = _mask(nodes)
    _call("mbind", ctypes.c_void_p(addr), ctypes.c_ulong(length), ctypes.c_int(m | mode_flags),
          mask if nodes else None, ctypes.c_ulong(MAX_NODES + 1 if nodes else 0), ctypes.c_uint(flags),
          nodes=nodes)


def set_mempolicy(mode: str | int, nodes=(), *, mode_flags: int = 0) -> None:
    """The calling thread's policy (inherited across fork and kept across execve)."""
    nodes = tuple(nodes)
    mask = _mask(nodes)
    _call("set_mempolicy", ctypes.c_int(_mode(mode) | mode_flags), mask if nodes else None,
          ctypes.c_ulong(MAX_NODES + 1 if nodes else 0), nodes=nodes)


def _decode(mode_val: int, mask) -> MemPolicy:
    flags = tuple(k for k, v in MODE_FLAGS.items() if mode_val & v)
    base = mode_val & ~(MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING)
    return MemPolicy(mode=MODE_NAMES.get(base, str(base)), nodes=_unmask(mask), flags=flags)


def get_mempolicy(addr: int | None = None) -> MemPolicy:
    """The calling thread's policy, or the policy governing `addr` (MPOL_F_ADDR)."""
    mode = ctypes.c_int(0)
    mask = NODEMASK_T()
    _call("get_mempolicy", ctypes.byref(mode), mask, ctypes.c_ulong(MAX_NODES + 1),
          ctypes.c_void_p(addr or 0), ctypes.c_ulong(MPOL_F_ADDR if addr else 0))
    return _decode(mode.value, mask)


def node_of_address(addr: int) -> int:
    """The node holding the page at `addr` (get_mempolicy MPOL_F_NODE|MPOL_F_ADDR; faults it in)."""
    mode = ctypes.c_int(0)
    _call("get_mempolicy", ctypes.byref(mode), None, ctypes.c_ulong(0), ctypes.c_void_p(addr),
          ctypes.c_ulong(MPOL_F_NODE | MPOL_F_ADDR))
    return mode.value


def mems_allowed() -> tuple[int, ...]:
    mode = ctypes.c_int(0)
    mask = NODEMASK_T()
    _call("get_mempolicy", ctypes.byref(mode), mask, ctypes.c_ulong(MAX_NODES + 1), None,
          ctypes.c_ulong(MPOL_F_MEMS_ALLOWED))
    return _unmask(mask)


def move_pages(pid: int, addrs, nodes=None, flags: int = MPOL_MF_MOVE) -> array.array:
    """move_pages(2) for `addrs` (a sequence or array('Q') of page addresses). With `nodes` None, only
    queries: each status is the node the page is on or a negative errno (-ENOENT not present,
    -EFAULT not mapped or the zero page). Otherwise nodes is one node for all pages or one per page;
    status is the node the page ended on or a negative errno (-EACCES shared, -EBUSY, -ENOMEM...).
    Returns array('i') of statuses."""
    if hasattr(addrs, "ctypes") and getattr(addrs, "dtype", None) is not None and addrs.dtype.itemsize == 8 \
            and addrs.flags["C_CONTIGUOUS"]:
        a_ptr, count = addrs.ctypes.data, len(addrs)          # numpy uint64 array: no copy
    else:
        a = addrs if isinstance(addrs, array.array) and addrs.typecode == "Q" else array.array("Q", addrs)
        a_ptr, count = a.buffer_info()[0], len(a)
    status = array.array("i", bytes(4 * count))
    if count == 0:
        return status
    p_addrs = ctypes.c_void_p(a_ptr)
    p_status = ctypes.c_void_p(status.buffer_info()[0])
    p_nodes = None
    if nodes is not None:
        nd = array.array("i", [int(nodes)] * count) if isinstance(nodes, int) else array.array("i", nodes)
        if len(nd) != count:
            raise InvalidInput("move_pages: one node per address (or one node for all)")
        p_nodes = ctypes.c_void_p(nd.buffer_info()[0])
    ret = _call("move_pages", ctypes.c_int(pid), ctypes.c_ulong(count), p_addrs, p_nodes, p_status,
                ctypes.c_int(flags), pid=pid or None)
    del ret   # > 0: pages that could not be moved (their status says why)
    return status


def migrate_pages(pid: int, from_nodes, to_nodes) -> int:
    """migrate_pages(2): move all of PID's pages on `from_nodes` to `to_nodes`. Returns pages not moved."""
    old, new = tuple(from_nodes), tuple(to_nodes)
    return _call("migrate_pages", ctypes.c_int(pid), ctypes.c_ulong(MAX_NODES + 1), _mask(old), _mask(new),
                 pid=pid or None, nodes=old + new)


def errno_name(status: int) -> str:
    """-2 -> 'ENOENT'."""
    return errno.errorcode.get(-status, str(status)) if status < 0 else "ok"
