"""CPU facts from /sys/devices/system/cpu and /proc/cpuinfo: cache levels, model, TSC flags.

`read_caches(cpu=0)` lists cpuN/cache/index*/ (level, type, size, line, ways, sets, sharing);
`read_cpuinfo()` gives the model name, vendor, flags and MHz of the first processor and the count.
"""

from __future__ import annotations

from ..errors import ParseError
from ..models.bench import CacheLevel, CpuInfo
from .io import listdir, read_bytes, read_optional
from .root import KernelRoot, resolve

CACHE_HINT = "the kernel exposes no cache topology in sysfs (cacheinfo missing on this platform)"


def parse_size(text: str, path: str = "size") -> int:
    """sysfs cache size: '32K', '512K', '32768K', '1M' -> bytes."""
    t = text.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:].upper(), 1)
    digits = t[:-1] if mult != 1 else t
    if not digits.isdigit():
        raise ParseError(f"{path}: not a cache size: {text!r}", path=path)
    return int(digits) * mult


def parse_cache_index(files: dict[str, bytes], path: str = "cache/index") -> CacheLevel:
    """One cache/indexN directory given as {file name: bytes}."""
    from .numa import parse_list  # the kernel's list format ('0-3,8'): one parser, in kernel.numa

    def txt(name: str) -> str | None:
        b = files.get(name)
        return b.decode("ascii", "replace").strip() if b is not None else None

    def num(name: str) -> int | None:
        v = txt(name)
        return int(v) if v is not None and v.isdigit() else None

    level, size = num("level"), txt("size")
    if level is None or size is None:
        raise ParseError(f"{path}: cache entry without level or size", path=path)
    shared = txt("shared_cpu_list")
    return CacheLevel(level=level, type=(txt("type") or "Unknown"), size_bytes=parse_size(size, path + "/size"),
                      line_bytes=num("coherency_line_size"), ways=num("ways_of_associativity"),
                      sets=num("number_of_sets"),
                      shared_cpus=parse_list(shared, path + "/shared_cpu_list") if shared else ())


def read_caches(cpu: int = 0, root: KernelRoot | None = None) -> list[CacheLevel]:
    """The caches CPU `cpu` sees, ordered by level then type (raises KernelFeatureMissing without sysfs)."""
    r = resolve(root)
    base = r.sys_path(f"devices/system/cpu/cpu{cpu}/cache")
    out = []
    for name in sorted(n for n in listdir(base) if n.startswith("index")):
        d = f"{base}/{name}"
        files = {}
        for f in ("level", "type", "size", "coherency_line_size", "ways_of_associativity", "number_of_sets",
                  "shared_cpu_list"):
            data = read_optional(f"{d}/{f}")
            if data is not None:
                files[f] = data
        if "size" not in files:  # some VMs list index dirs without sizes
            continue
        out.append(parse_cache_index(files, d))
    out.sort(key=lambda c: (c.level, c.type))
    return out


def data_caches(caches: list[CacheLevel]) -> list[CacheLevel]:
    """The caches data loads go through (Data and Unified), one per level."""
    by_level: dict[int, CacheLevel] = {}
    for c in caches:
        if c.type in ("Data", "Unified") and c.level not in by_level:
            by_level[c.level] = c
    return [by_level[k] for k in sorted(by_level)]


def parse_cpuinfo(data: bytes, path: str = "cpuinfo") -> CpuInfo:
    """/proc/cpuinfo: the first processor's model, vendor, MHz, flags; the processor count."""
    text = data.decode("utf-8", "replace")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    if not blocks:
        raise ParseError(f"{path}: empty", path=path)
    first: dict[str, str] = {}
    for line in blocks[0].splitlines():
        k, sep, v = line.partition(":")
        if sep:
            first.setdefault(k.strip(), v.strip())
    count = sum(1 for b in blocks if any(ln.startswith("processor") for ln in b.splitlines()))
    mhz = first.get("cpu MHz")
    try:
        mhz_f = float(mhz) if mhz else None
    except ValueError:
        mhz_f = None
    flags = tuple((first.get("flags") or first.get("Features") or "").split())
    model = first.get("model name") or first.get("Model") or first.get("cpu model") or first.get("Processor") or ""
    return CpuInfo(model=model, vendor=first.get("vendor_id", ""), mhz=mhz_f, flags=flags, count=count or 1)


def read_cpuinfo(root: KernelRoot | None = None) -> CpuInfo:
    r = resolve(root)
    return parse_cpuinfo(read_bytes(r.proc_path("cpuinfo")), r.proc_path("cpuinfo"))

