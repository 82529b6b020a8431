"""Transparent huge pages in sysfs: /sys/kernel/mm/transparent_hugepage with khugepaged and every
multi-size THP directory hugepages-<N>kB (Linux 6.8+) with its stats/ (6.9+)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ParseError
from .io import listdir, read_bytes, read_optional
from .root import KernelRoot, resolve

if TYPE_CHECKING:  # imported where the records are built: kernel.hugetlb's pool counts go without them
    from ..models.hugepages import Choice, ThpSettings

THP_DIR = "kernel/mm/transparent_hugepage"
THP_HINT = "the kernel has no transparent huge pages (CONFIG_TRANSPARENT_HUGEPAGE=n)"


def parse_choice(data: bytes, path: str = "setting") -> Choice:
    """'always [madvise] never' -> Choice(selected='madvise', choices=(...))."""
    from ..models.hugepages import Choice

    words = data.decode("ascii", "replace").split()
    sel = [w[1:-1] for w in words if w.startswith("[") and w.endswith("]")]
    if len(sel) != 1:
        raise ParseError(f"{path}: no single [selected] word in {data[:80]!r}", path=path)
    return Choice(selected=sel[0], choices=tuple(w.strip("[]") for w in words))


def parse_int(data: bytes, path: str = "value") -> int:
    try:
        return int(data.strip())
    except ValueError:
        raise ParseError(f"{path}: not an integer: {data[:40]!r}", path=path) from None


def size_dir_bytes(name: str) -> int | None:
    """'hugepages-2048kB' -> 2097152 (None for other names)."""
    if name.startswith("hugepages-") and name.endswith("kB") and name[10:-2].isdigit():
        return int(name[10:-2]) * 1024
    return None


def _choice(path: str) -> Choice | None:
    data = read_optional(path)
    return parse_choice(data, path) if data is not None else None


def _int(path: str) -> int | None:
    data = read_optional(path)
    return parse_int(data, path) if data is not None else None


def _ints_in(dirpath: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        names = sorted(os.listdir(dirpath))
    except OSError:
        return out
    for n in names:
        data = read_optional(f"{dirpath}/{n}")
        if data is not None and data.strip().lstrip(b"-").isdigit():
            out[n] = int(data)
    return out


def read_thp_mode(root: KernelRoot | None = None) -> str | None:
    """The selected word of transparent_hugepage/enabled ('always', 'madvise', 'never'); None without THP."""
    c = _choice(resolve(root).sys_path(f"{THP_DIR}/enabled"))
    return None if c is None else c.selected


def read_pmd_size(root: KernelRoot | None = None) -> int:
    """hpage_pmd_size in bytes (the PMD huge page size); 2 MiB where the kernel does not say."""
    return _int(resolve(root).sys_path(f"{THP_DIR}/hpage_pmd_size")) or (2 << 20)


def read_thp_settings(root: KernelRoot | None = None) -> ThpSettings:
    """Everything under /sys/kernel/mm/transparent_hugepage. KernelFeatureMissing without THP."""
    from ..models.hugepages import ThpSettings, ThpSize

    base = resolve(root).sys_path(THP_DIR)
    enabled = parse_choice(read_bytes(f"{base}/enabled", what=THP_HINT), f"{base}/enabled")
    sizes = []
    for name in sorted(listdir(base), key=lambda n: size_dir_bytes(n) or 0):
        sz = size_dir_bytes(name)
        if sz is None:
            continue
        d = f"{base}/{name}"
        sizes.append(
            ThpSize(
                size_bytes=sz,
                enabled=_choice(f"{d}/enabled"),
                shmem_enabled=_choice(f"{d}/shmem_enabled"),
                stats=_ints_in(f"{d}/stats"),
            )
        )
    zero = _int(f"{base}/use_zero_page")
    shrink = _int(f"{base}/shrink_underused")
    return ThpSettings(
        enabled=enabled,
        defrag=_choice(f"{base}/defrag"),
        shmem_enabled=_choice(f"{base}/shmem_enabled"),
        pmd_size_bytes=_int(f"{base}/hpage_pmd_size"),
        use_zero_page=None if zero is None else bool(zero),
        shrink_underused=None if shrink is None else bool(shrink),
        khugepaged=_ints_in(f"{base}/khugepaged"),
        sizes=tuple(sizes),
    )
