"""Per-process files under /proc/PID: maps, smaps, smaps_rollup, status, stat, cmdline, comm.

Pure parsers `parse_x(data: bytes, ...) -> records` and thin readers `read_x(pid, root)`.
"""

from __future__ import annotations

import errno
import os
from operator import itemgetter

from ..errors import AccessDenied, NoSuchProcess, ParseError
from ..models.process import SMAPS_KB_FIELDS, Mapping, Rollup, Stat, Status
from .io import check_zombie, check_zombie_stat, list_pids, read_bytes, translate
from .root import KernelRoot, resolve

_KB = 1024


def _header(line: bytes, path: str) -> dict:
    # "start-end perms offset dev inode   name"; the name may hold spaces (split at most 5 times).
    parts = line.split(None, 5)
    if len(parts) < 5 or b"-" not in parts[0]:
        raise ParseError(f"{path}: malformed mapping line {line[:80]!r}", path=path)
    try:
        lo, hi = parts[0].split(b"-", 1)
        return {
            "start": int(lo, 16),
            "end": int(hi, 16),
            "perms": parts[1].decode("ascii"),
            "offset": int(parts[2], 16),
            "dev": parts[3].decode("ascii"),
            "inode": int(parts[4]),
            "name": parts[5].decode("utf-8", "surrogateescape") if len(parts) > 5 else "",
        }
    except (ValueError, UnicodeDecodeError):
        raise ParseError(f"{path}: malformed mapping line {line[:80]!r}", path=path) from None


def _is_header(line: bytes) -> bool:
    # Header lines start with a hex range; key lines start with a capitalised key and a colon.
    head = line[:1]
    return head in b"0123456789abcdef" and head != b"" and b"-" in line.split(b" ", 1)[0]


_NO_COUNTERS = (None,) * (len(Mapping._fields) - 7)   # every field after the seven of the header line


def parse_maps(data: bytes, path: str = "maps") -> list[Mapping]:
    """Parse /proc/PID/maps (no counters). The records are built positionally (twice as fast as
    keywords: the page walk parses maps on every call)."""
    out = []
    new, rest, Map = tuple.__new__, _NO_COUNTERS, Mapping
    for line in data.splitlines():
        if not line:
            continue
        parts = line.split(None, 5)
        try:
            lo, _, hi = parts[0].partition(b"-")
            out.append(new(Map, (int(lo, 16), int(hi, 16), parts[1].decode("ascii"), int(parts[2], 16),
                                 parts[3].decode("ascii"), int(parts[4]),
                                 parts[5].decode("utf-8", "surrogateescape") if len(parts) > 5 else "") + rest))
        except (ValueError, IndexError, UnicodeDecodeError):
            raise ParseError(f"{path}: malformed mapping line {line[:80]!r}", path=path) from None
    return out


def _kv(line: bytes, path: str, acc: dict) -> None:
    key, sep, rest = line.partition(b":")
    if not sep:
        raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
    name = SMAPS_KB_FIELDS.get(key)
    try:
        if name is not None:
            val = rest.split()
            if not val:
                raise ValueError
            acc[name] = int(val[0]) * _KB      # "1234 kB"
        elif key == b"VmFlags":
            acc["vmflags"] = tuple(v.decode("ascii") for v in rest.split())
        elif key == b"THPeligible":
            acc["thp_eligible"] = rest.strip() == b"1"
        elif key == b"ProtectionKey":
            acc["protection_key"] = int(rest)  # no unit
        # Unknown keys (new kernels) are ignored.
    except ValueError:
        raise ParseError(f"{path}: malformed value in {line[:80]!r}", path=path) from None


def _parse_smaps_general(lines: list[bytes], path: str) -> list[Mapping]:
    """Line by line: any order of keys, blocks of different lengths."""
    out: list[Mapping] = []
    cur: dict | None = None
    for line in lines:
        if not line:
            continue
        if _is_header(line):
            if cur is not None:
                out.append(Mapping(**cur))
            cur = _header(line, path)
        elif cur is None:
            raise ParseError(f"{path}: counter line before any mapping: {line[:80]!r}", path=path)
        else:
            _kv(line, path, cur)
    if cur is not None:
        out.append(Mapping(**cur))
    return out


_FIELD_INDEX = {name: i for i, name in enumerate(Mapping._fields)}
_vmflags_cache: dict[bytes, tuple[str, ...]] = {}


def _parse_smaps_columns(lines: list[bytes], path: str) -> list[Mapping] | None:
    """The fast path: every block has the same keys in the same order (true of one kernel's smaps),
    so each key is a column parsed with one join and one split. None if the blocks are not uniform."""
    n_lines = len(lines)
    step = 1
    while step < n_lines and lines[step][:1] not in b"0123456789abcdef":
        step += 1
    if n_lines % step:
        return None
    n = n_lines // step
    cols: list[object] = [None] * len(Mapping._fields)
    for j in range(1, step):
        col = lines[j::step]
        key, _, _ = col[0].partition(b":")
        if key == b"VmFlags":
            tok = b"\n".join(col).split(b"\n")
            if any(not t.startswith(b"VmFlags:") for t in tok):
                return None
            cache = _vmflags_cache
            vals = []
            for t in tok:
                v = cache.get(t)
                if v is None:
                    v = cache[t] = tuple(f.decode("ascii") for f in t[8:].split())
                vals.append(v)
            cols[_FIELD_INDEX["vmflags"]] = vals
            continue
        tok = b" ".join(col).split()
        name = SMAPS_KB_FIELDS.get(key)
        if name is not None:
            k = key + b":"
            if len(tok) != 3 * n or tok[0::3].count(k) != n or tok[2::3].count(b"kB") != n:
                return None
            try:
                cols[_FIELD_INDEX[name]] = list(map((1024).__mul__, map(int, tok[1::3])))
            except ValueError:
                raise ParseError(f"{path}: malformed value for {key.decode(errors='replace')}", path=path) from None
        elif key in (b"THPeligible", b"ProtectionKey"):
            k = key + b":"
            if len(tok) != 2 * n or tok[0::2].count(k) != n:
                return None
            if key == b"THPeligible":
                cols[_FIELD_INDEX["thp_eligible"]] = [v == b"1" for v in tok[1::2]]
            else:
                try:
                    cols[_FIELD_INDEX["protection_key"]] = list(map(int, tok[1::2]))
                except ValueError:
                    raise ParseError(f"{path}: malformed ProtectionKey", path=path) from None
        elif not col[0].endswith(b"kB") and b":" not in col[0]:
            return None
        # else: an unknown key (a newer kernel): ignored
    heads = [_header(h, path) for h in lines[0::step]]
    for name in _MAPPING_HEAD_FIELDS:
        cols[_FIELD_INDEX[name]] = [h[name] for h in heads]
    nones = [None] * n
    return list(map(Mapping._make, zip(*[c if c is not None else nones for c in cols])))


_MAPPING_HEAD_FIELDS = ("start", "end", "perms", "offset", "dev", "inode", "name")


def parse_smaps(data: bytes, path: str = "smaps") -> list[Mapping]:
    """Parse /proc/PID/smaps into Mapping records, counters in bytes.

    A process can have 10^5 mappings: the blocks of one kernel all print the same keys in the same
    order, so the keys are parsed as columns (about 30x faster than line by line); anything else
    (hand-edited files, mixed layouts) goes through the general line-by-line parser.
    """
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if not lines:
        return []
    if not _is_header(lines[0]):
        raise ParseError(f"{path}: counter line before any mapping: {lines[0][:80]!r}", path=path)
    fast = _parse_smaps_columns(lines, path)
    return fast if fast is not None else _parse_smaps_general(lines, path)


# smaps_rollup prints the same keys in the same order for every process of a kernel: remember, per
# key layout, a getter that picks the record's fields out of the values (None for a counter this kernel
# lacks: it points past the end, at a None appended to the values), so parsing is a few C-level calls.
_ROLLUP_LAYOUTS: dict[tuple[bytes, ...], itemgetter] = {}


def _rollup_layout(keys: tuple[bytes, ...], path: str) -> itemgetter:
    pos = {}
    for i, k in enumerate(keys):
        if not k.endswith(b":"):
            raise ParseError(f"{path}: malformed line near {k!r}", path=path)
        name = SMAPS_KB_FIELDS.get(k[:-1])
        if name is not None:
            pos[name] = i
    if "rss_bytes" not in pos:
        raise ParseError(f"{path}: truncated (no Rss line)", path=path)
    from ..models.process import COUNTER_FIELDS

    getter = itemgetter(*(pos.get(name, len(keys)) for name in COUNTER_FIELDS))
    _ROLLUP_LAYOUTS[keys] = getter
    return getter


def _rollup_values(tok: list[bytes], path: str) -> list[int | None]:
    try:
        vals: list[int | None] = list(map((1024).__mul__, map(int, tok[1::3])))
    except ValueError:
        raise ParseError(f"{path}: malformed value", path=path) from None
    vals.append(None)
    return vals


def parse_smaps_rollup(data: bytes, pid: int, path: str = "smaps_rollup") -> Rollup:
    """Parse smaps_rollup: a header line, then `Key:  N kB` lines (every counter has a kB unit)."""
    nl = data.find(b"\n")
    if nl < 0 or not _is_header(data[:nl]):
        raise ParseError(f"{path}: no [rollup] header", path=path)
    tok = data[nl + 1:].split()
    n = len(tok) // 3
    if len(tok) % 3 or tok[2::3].count(b"kB") != n:
        raise ParseError(f"{path}: malformed or truncated", path=path)
    keys = tuple(tok[0::3])
    getter = _ROLLUP_LAYOUTS.get(keys) or _rollup_layout(keys, path)
    return Rollup(pid, "smaps_rollup", *getter(_rollup_values(tok, path)))


def rollup_from_mappings(pid: int, maps: list[Mapping]) -> Rollup:
    """Sum smaps into a rollup (for kernels without smaps_rollup). Counters absent everywhere stay None."""
    from ..models.process import COUNTER_FIELDS

    acc: dict = {}
    for name in COUNTER_FIELDS:
        vals = [getattr(m, name) for m in maps]
        present = [v for v in vals if v is not None]
        if present:
            acc[name] = sum(present)
    if "rss_bytes" not in acc:
        acc["rss_bytes"] = 0
    return Rollup(pid=pid, source="smaps", **acc)


def parse_status(data: bytes, pid: int, path: str = "status") -> Status:
    vm: dict[str, int] = {}
    other: dict[str, str] = {}
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        key, sep, val = line.partition(":")
        if not sep:
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        val = val.strip()
        if val.endswith(" kB") and (key.startswith(("Vm", "Rss")) or key == "HugetlbPages"):
            try:
                vm[key] = int(val[:-3]) * _KB
            except ValueError:
                raise ParseError(f"{path}: bad value for {key}", path=path) from None
        else:
            other[key] = val
    try:
        uids = other["Uid"].split()
        return Status(
            pid=pid, name=other.get("Name", ""), state=other.get("State", "?")[:1],
            ppid=int(other.get("PPid", "0")), uid=int(uids[0]), euid=int(uids[1]),
            threads=int(other.get("Threads", "1")), vm=vm, other=other,
        )
    except (KeyError, IndexError, ValueError):
        raise ParseError(f"{path}: truncated or malformed (no Uid line)", path=path) from None


def parse_stat(data: bytes, path: str = "stat") -> Stat:
    # comm may contain spaces and parentheses: it ends at the LAST ')'.
    lp, rp = data.find(b"("), data.rfind(b")")
    if lp < 0 or rp < lp:
        raise ParseError(f"{path}: malformed (no comm)", path=path)
    f = data[rp + 2:].split()
    if len(f) < 20:
        raise ParseError(f"{path}: truncated ({len(f) + 2} fields)", path=path)

    def g(i: int) -> int:  # i = proc(5) field number (1-based); f[0] is field 3
        j = i - 3
        return int(f[j]) if j < len(f) else 0

    try:
        return Stat(
            pid=int(data[:lp]), comm=data[lp + 1:rp].decode("utf-8", "surrogateescape"),
            state=f[0].decode("ascii"), ppid=g(4), flags=g(9), minflt=g(10), cminflt=g(11), majflt=g(12),
            cmajflt=g(13), utime_ticks=g(14), stime_ticks=g(15), num_threads=g(20), starttime_ticks=g(22),
            vsize_bytes=g(23), rss_pages=g(24), start_code=g(26), end_code=g(27), start_stack=g(28),
            processor=g(39), start_data=g(45), end_data=g(46), start_brk=g(47), arg_start=g(48),
            arg_end=g(49), env_start=g(50), env_end=g(51),
        )
    except ValueError:
        raise ParseError(f"{path}: malformed number", path=path) from None


def parse_cmdline(data: bytes) -> list[str]:
    if not data:
        return []
    return data.rstrip(b"\0").decode("utf-8", "surrogateescape").split("\0")   # one decode, one split


# --- readers ---------------------------------------------------------------------------------

def _read(pid: int, name: str, root: KernelRoot | None) -> tuple[bytes, str]:
    path = resolve(root).pid_path(pid, name)
    return read_bytes(path, pid=pid), path


def read_maps(pid: int, root: KernelRoot | None = None) -> list[Mapping]:
    data, path = _read(pid, "maps", root)
    return parse_maps(data, path)


def read_smaps(pid: int, root: KernelRoot | None = None) -> list[Mapping]:
    data, path = _read(pid, "smaps", root)
    if not data:
        check_zombie(resolve(root).proc, pid, data, "smaps")
    return parse_smaps(data, path)


def read_smaps_rollup(pid: int, root: KernelRoot | None = None) -> Rollup | None:
    """The rollup; falls back to summing smaps where smaps_rollup is missing or fails (ESRCH).

    Returns None for a process without an address space (a kernel thread).
    """
    r = resolve(root)
    path = r.pid_path(pid, "smaps_rollup")
    try:
        data = read_bytes(path, pid=pid)
    except NoSuchProcess:
        # ENOENT with /proc/PID still there: a kernel without smaps_rollup (< 4.14);
        # ESRCH: a kernel thread or an exiting process. Either way smaps says which.
        if not os.path.exists(r.pid_path(pid)):
            raise
        data = b""
    if data:
        return parse_smaps_rollup(data, pid, path)
    return _rollup_from_smaps(pid, r)


def _rollup_from_smaps(pid: int, r: KernelRoot) -> Rollup | None:
    """smaps summed (no smaps_rollup, or it failed for a live process); None without an address space.
    NoSuchProcess/ZombieProcess when the process is gone or a zombie."""
    maps = read_smaps(pid, r)
    return rollup_from_mappings(pid, maps) if maps else None


def scan_rollups(root: KernelRoot | None = None, pids: list[int] | None = None, with_cmdline: bool = True,
                 prefetched=None):
    """Every process's rollup, owner and command line in one tight pass (the `ps` hot path).

    Yields (pid, uid, rollup, cmdline) for processes with an address space, or (pid, exc, None, None)
    for one that could not be read (NoSuchProcess, AccessDenied, ParseError): the caller counts those.
    Kernel threads are skipped. Reads smaps_rollup once per process (smaps where it is missing or
    fails), takes the owner from an fstat of the open file, and the cmdline in one read. The files
    are read by the C core on every CPU (kernel.procread), or by a Python loop where it is missing;
    `prefetched`: a procread reader of ("smaps_rollup", "cmdline") already started by the caller (with
    kb_file=0, or rows of raw bytes: both are accepted).
    """
    r = resolve(root)
    if prefetched is None:
        from . import procread

        names = procread.ROLLUP_NAMES if with_cmdline else procread.ROLLUP_NAMES[:1]
        if pids is None:
            prefetched = procread.take(r.proc, names, **procread.ROLLUP_READ)
        if prefetched is None:
            if pids is None:
                pids = list_pids(r.proc)
            if len(pids) > 32:     # fewer: threads cost more than they save
                prefetched = procread.start(r.proc, pids, names, **procread.ROLLUP_READ)
    rows = None
    if prefetched is not None:
        try:
            rows = prefetched.wait()
        except OSError:       # the C reader ran out of memory, or could not list proc: read from Python
            pids = prefetched.pids
    if rows is None:          # (wait() returns a list or raises)
        if pids is None:
            pids = list_pids(r.proc)
        rows = _read_rollups(r.proc, pids, with_cmdline)
    base = r.proc + "/"
    layouts = _ROLLUP_LAYOUTS
    new_rollup = tuple.__new__        # Rollup._make without its length check: the layout fixes it
    ru: Rollup | None                 # for mypy (bare annotations cost nothing at run time)
    for pid, uid, files in rows:
        data = files[0]
        try:
            t = type(data)
            if t is tuple:                        # parsed by the C reader: (keys, values + [None])
                keys, vals = data
                getter = layouts.get(keys) or _rollup_layout(keys, f"{base}{pid}/smaps_rollup")
                ru = new_rollup(Rollup, (pid, "smaps_rollup", *getter(vals)))
            elif t is int:                        # an errno
                prefix = base + str(pid)
                if data == errno.ESRCH:           # no address space: a kernel thread, or a zombie
                    stat = files[-1]              # read then by the C reader (procread.ROLLUP_READ)
                    if type(stat) is bytes:
                        check_zombie_stat(stat, pid, "smaps_rollup")
                    elif stat is None:            # not read (rows from elsewhere): read it now
                        check_zombie(r.proc, pid, b"", "smaps_rollup")
                    elif stat in (errno.ENOENT, errno.ESRCH):
                        raise NoSuchProcess(f"process {pid} is gone", pid=pid)
                    continue
                if data != errno.ENOENT:
                    raise translate(data, prefix + "/smaps_rollup", pid)
                ru = _rollup_from_smaps(pid, r)   # a kernel without smaps_rollup, or gone (NoSuchProcess)
                if ru is None:
                    continue
                uid = pid_uid(pid, r)
                if with_cmdline:
                    files = (data, _read_cmdline_raw(prefix + "/cmdline"))
            elif not data:
                ru = _rollup_from_smaps(pid, r)
                if ru is None:
                    continue
            else:                                 # raw bytes: from the Python reads, or not the usual form
                ru = parse_smaps_rollup(data, pid, f"{base}{pid}/smaps_rollup")
            cmd: list[str] | None = None
            if with_cmdline:
                raw = files[1]
                if type(raw) is int:
                    if raw in (errno.ENOENT, errno.ESRCH):
                        raise translate(raw, f"{base}{pid}/cmdline", pid)
                    cmd = []
                else:
                    cmd = parse_cmdline(raw)
                if not cmd or not any(cmd):
                    cmd = ["[" + read_comm(pid, r) + "]"]
            yield pid, uid, ru, cmd
        except (NoSuchProcess, AccessDenied, ParseError) as exc:
            yield pid, exc, None, None


def _read_rollups(proc: str, pids: list[int], with_cmdline: bool):
    """scan_rollups' reads from Python: (pid, uid, [rollup bytes | errno, cmdline bytes | errno, None]);
    the last item (the C reader's on_esrch stat) is left for scan_rollups to read where needed."""
    o_flags = os.O_RDONLY | os.O_CLOEXEC
    open_, read, close, fstat = os.open, os.read, os.close, os.fstat
    base = proc + "/"
    uid = 0
    for pid in pids:
        prefix = base + str(pid)
        try:
            fd = open_(prefix + "/smaps_rollup", o_flags)
            try:
                uid = fstat(fd).st_uid
                data = read(fd, 65536)
                if len(data) == 65536:
                    data += _read_rest(fd)
            finally:
                close(fd)
        except OSError as exc:
            yield pid, uid, [exc.errno, exc.errno, None]
            continue
        yield pid, uid, [data, _read_cmdline_raw(prefix + "/cmdline") if with_cmdline else b"", None]


def _read_cmdline_raw(path: str) -> bytes | int:
    """A command line's bytes, or the errno that stopped the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            raw = os.read(fd, 65536)
            if len(raw) == 65536:                    # a long command line: read the rest
                raw += _read_rest(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.errno or errno.EIO
    return raw


def read_status(pid: int, root: KernelRoot | None = None) -> Status:
    data, path = _read(pid, "status", root)
    return parse_status(data, pid, path)


def read_stat(pid: int, root: KernelRoot | None = None) -> Stat:
    data, path = _read(pid, "stat", root)
    if not data:
        raise NoSuchProcess(f"process {pid} exited while being read", pid=pid)
    return parse_stat(data, path)


def read_cmdline(pid: int, root: KernelRoot | None = None) -> list[str]:
    path = resolve(root).pid_path(pid, "cmdline")
    data = _read_cmdline_raw(path)
    if isinstance(data, int):     # (bytes or an errno: the same test as `type(data) is int`)
        raise translate(data, path, pid)
    return parse_cmdline(data)


def _read_rest(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def read_comm(pid: int, root: KernelRoot | None = None) -> str:
    data, _ = _read(pid, "comm", root)
    return data.rstrip(b"\n").decode("utf-8", "surrogateescape")


def read_exe(pid: int, root: KernelRoot | None = None) -> str | None:
    try:
        return os.readlink(resolve(root).pid_path(pid, "exe"))
    except OSError:
        return None


def read_cgroup(pid: int, root: KernelRoot | None = None) -> str:
    """The process's memory cgroup path (v1 'memory' controller line, else the v2 '0::' line)."""
    data, _ = _read(pid, "cgroup", root)
    v2 = ""
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        hid, _, rest = line.partition(":")
        ctrls, _, cpath = rest.partition(":")
        if "memory" in ctrls.split(","):
            return cpath
        if hid == "0" and ctrls == "":
            v2 = cpath
    return v2


def pid_uid(pid: int, root: KernelRoot | None = None) -> int:
    """The owner of /proc/PID (the process's effective uid at exec), one stat() call."""
    path = resolve(root).pid_path(pid)
    try:
        return os.stat(path).st_uid
    except OSError as exc:
        raise translate(exc, path, pid) from None
