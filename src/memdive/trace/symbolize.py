"""Return addresses -> function, file:line, using the maps captured at record time and addr2line.

Only the stacks a report shows are symbolized; addresses are batched into one addr2line run per object.
"""

from __future__ import annotations

import bisect
import os
import shutil
import struct
import subprocess

from ..models.trace import Frame


class Maps:
    """Executable file mappings of the traced process (union of every maps snapshot in the trace)."""

    def __init__(self, snapshots: list[tuple[int, bytes]]):
        seen: dict[int, tuple[int, int, str]] = {}
        for _ts, text in snapshots:
            for line in text.splitlines():
                parts = line.split(None, 5)
                if len(parts) < 6 or b"x" not in parts[1]:
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split(b"-"))
                name = parts[5].decode(errors="surrogateescape")
                name = name.removesuffix(" (deleted)")
                seen[lo] = (hi, int(parts[2], 16), name)
        self.starts = sorted(seen)
        self.entries = [(s, *seen[s]) for s in self.starts]

    def find(self, addr: int) -> tuple[int, int, int, str] | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0:
            lo, hi, off, name = self.entries[i]
            if addr < hi:
                return lo, hi, off, name
        return None


def _load_segments(path: str) -> list[tuple[int, int, int]]:
    """(p_offset, p_filesz, p_vaddr) of each PT_LOAD of a 64-bit little-endian ELF."""
    try:
        with open(path, "rb") as f:
            h = f.read(64)
            if h[:4] != b"\x7fELF" or h[4] != 2:
                return []
            phoff, = struct.unpack_from("<Q", h, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", h, 0x36)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return []
    segs = []
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_filesz, p_vaddr))
    return segs


class Symbolizer:
    def __init__(self, maps: Maps):
        self.maps = maps
        self.cache: dict[int, tuple[Frame, ...]] = {}
        self.addr2line = shutil.which("addr2line")

    def resolve(self, addresses) -> None:
        """Symbolize all ADDRESSES not yet cached (batched per object)."""
        todo: dict[str, list[tuple[int, int]]] = {}
        for a in set(addresses) - self.cache.keys():
            m = self.maps.find(a)
            if m is None:
                self.cache[a] = (Frame(address=a, function="??"),)
                continue
            lo, _hi, off, name = m
            fileoff = a - lo + off
            todo.setdefault(name, []).append((a, fileoff))
        for name, items in todo.items():
            segs = _load_segments(name) if name.startswith("/") else []
            vaddrs = []
            for a, fo in items:
                va = None
                for p_off, p_sz, p_va in segs:
                    if p_off <= fo < p_off + p_sz:
                        va = fo - p_off + p_va
                        break
                vaddrs.append(va)
            got = self._run(name, [v - 1 for v in vaddrs if v is not None]) if segs and self.addr2line else {}
            base = os.path.basename(name)
            for (a, fo), va in zip(items, vaddrs):
                frames = got.get(va - 1) if va is not None else None
                if not frames:
                    frames = [("??", "", 0)]
                out = []
                for k, (fn, file, line) in enumerate(frames):
                    if fn == "??" and k == 0:
                        fn = f"{base}+{fo:#x}"
                    out.append(Frame(address=a, function=fn, file=file, line=line, object=name,
                                     inlined=k < len(frames) - 1))
                self.cache[a] = tuple(out)

    def _run(self, obj: str, vaddrs: list[int]) -> dict[int, list[tuple[str, str, int]]]:
        if not vaddrs or not self.addr2line:
            return {}
        try:
            p = subprocess.run([self.addr2line, "-a", "-f", "-C", "-i", "-e", obj],
                               input="\n".join(f"{v:#x}" for v in vaddrs) + "\n",
                               capture_output=True, text=True, timeout=120, errors="replace", check=False)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        res: dict[int, list[tuple[str, str, int]]] = {}
        cur: list[tuple[str, str, int]] | None = None
        lines = p.stdout.splitlines()
        i = 0
        while i < len(lines):
            ln = lines[i]
            if ln.startswith("0x") and (i + 1 >= len(lines) or not lines[i + 1].startswith("0x")) and \
                    all(c in "0123456789abcdefx" for c in ln):
                cur = res.setdefault(int(ln, 16), [])
                i += 1
                continue
            if cur is not None and i + 1 < len(lines):
                fn, loc = ln, lines[i + 1]
                file, _, line = loc.rpartition(":")
                line = line.split(" ")[0]
                file = "" if file in ("??", "") else file
                cur.append((fn, file, int(line) if line.isdigit() else 0))
                i += 2
                continue
            i += 1
        # addr2line -i prints the innermost (inlined) function first; we keep that order
        return res

    def stack(self, addresses) -> tuple[Frame, ...]:
        self.resolve(addresses)
        out: list[Frame] = []
        for a in addresses:
            out.extend(self.cache[a])
        return tuple(out)
