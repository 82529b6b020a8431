"""Records of one process: its mappings (smaps), rollup, status, stat.

These records are immutable named tuples with properties rather than dataclasses: `memdive ps`
builds hundreds of them within a time budget near the kernel's floor, and `import dataclasses`
alone (it pulls in inspect) costs more than parsing every smaps_rollup of a machine.
Use them as records: attribute access, `._asdict()`, `._replace()`; construct with keywords.
"""

from __future__ import annotations

from collections import namedtuple

# smaps keys (kB values) -> record field names; counts are bytes after parsing.
SMAPS_KB_FIELDS: dict[bytes, str] = {
    b"Size": "size_bytes",
    b"KernelPageSize": "kernel_page_size_bytes",
    b"MMUPageSize": "mmu_page_size_bytes",
    b"Rss": "rss_bytes",
    b"Pss": "pss_bytes",
    b"Pss_Dirty": "pss_dirty_bytes",
    b"Pss_Anon": "pss_anon_bytes",
    b"Pss_File": "pss_file_bytes",
    b"Pss_Shmem": "pss_shmem_bytes",
    b"Shared_Clean": "shared_clean_bytes",
    b"Shared_Dirty": "shared_dirty_bytes",
    b"Private_Clean": "private_clean_bytes",
    b"Private_Dirty": "private_dirty_bytes",
    b"Referenced": "referenced_bytes",
    b"Anonymous": "anonymous_bytes",
    b"KSM": "ksm_bytes",
    b"LazyFree": "lazyfree_bytes",
    b"AnonHugePages": "anon_huge_bytes",
    b"ShmemPmdMapped": "shmem_pmd_bytes",
    b"FilePmdMapped": "file_pmd_bytes",
    b"Shared_Hugetlb": "shared_hugetlb_bytes",
    b"Private_Hugetlb": "private_hugetlb_bytes",
    b"Swap": "swap_bytes",
    b"SwapPss": "swap_pss_bytes",
    b"Locked": "locked_bytes",
}

# VmFlags two-letter codes (Documentation/filesystems/proc.rst) -> words.
VMFLAG_WORDS: dict[str, str] = {
    "rd": "readable", "wr": "writeable", "ex": "executable", "sh": "shared",
    "mr": "may-read", "mw": "may-write", "me": "may-execute", "ms": "may-share",
    "gd": "stack-grows-down", "pf": "pure-pfn-range", "dw": "disabled-write-to-file",
    "lo": "locked", "io": "memory-mapped-io", "sr": "sequential-read-advised",
    "rr": "random-read-advised", "dc": "do-not-copy-on-fork", "de": "do-not-expand-on-remap",
    "ac": "accountable", "nr": "swap-not-reserved", "ht": "hugetlb", "sf": "synchronous-page-fault",
    "ar": "arch-specific", "wf": "wipe-on-fork", "dd": "do-not-dump", "sd": "soft-dirty",
    "mm": "mixed-map", "hg": "huge-page-advised", "nh": "no-huge-page-advised",
    "mg": "mergeable-advised", "bt": "arm64-bti-guarded", "mt": "arm64-mte-tags",
    "um": "userfaultfd-missing-tracking", "uw": "userfaultfd-wr-protect-tracking",
    "ui": "userfaultfd-minor-fault-tracking", "ss": "shadow-stack", "sl": "sealed",
    "lf": "lock-on-fault", "pk": "protection-key",
}



# The smaps counters, in bytes. None: this kernel does not report that counter.
COUNTER_FIELDS: tuple[str, ...] = (
    "rss_bytes", "pss_bytes", "pss_dirty_bytes", "pss_anon_bytes", "pss_file_bytes", "pss_shmem_bytes",
    "shared_clean_bytes", "shared_dirty_bytes", "private_clean_bytes", "private_dirty_bytes",
    "referenced_bytes", "anonymous_bytes", "ksm_bytes", "lazyfree_bytes", "anon_huge_bytes",
    "shmem_pmd_bytes", "file_pmd_bytes", "shared_hugetlb_bytes", "private_hugetlb_bytes",
    "swap_bytes", "swap_pss_bytes", "locked_bytes",
)


class _Counters:
    """Derived figures shared by Mapping and Rollup."""

    __slots__ = ()

    @property
    def uss_bytes(self) -> int:
        """Unique set size: private clean + private dirty (+ private hugetlb)."""
        return (self.private_clean_bytes or 0) + (self.private_dirty_bytes or 0) + (  # type: ignore[attr-defined]
            self.private_hugetlb_bytes or 0)  # type: ignore[attr-defined]


_MAPPING_HEAD = ("start", "end", "perms", "offset", "dev", "inode", "name")
_MAPPING_TAIL = ("size_bytes", "kernel_page_size_bytes", "mmu_page_size_bytes", "thp_eligible",
                 "protection_key", "vmflags")


class Mapping(_Counters, namedtuple("Mapping", _MAPPING_HEAD + COUNTER_FIELDS + _MAPPING_TAIL,
                                    defaults=(None,) * (len(COUNTER_FIELDS) + len(_MAPPING_TAIL)))):
    """One VMA from /proc/PID/smaps (or maps, then all counters are None).

    start, end: addresses; perms "rw-p"; offset; dev "fd:01"; inode; name exactly as the kernel
    printed it ("" for anonymous); the counters of COUNTER_FIELDS; size_bytes, kernel_page_size_bytes,
    mmu_page_size_bytes; thp_eligible (bool|None); protection_key; vmflags (two-letter codes, or None
    when the kernel prints no VmFlags line).
    """

    __slots__ = ()

    @property
    def length_bytes(self) -> int:
        return self.end - self.start

    @property
    def readable(self) -> bool:
        return self.perms[:1] == "r"

    @property
    def writable(self) -> bool:
        return self.perms[1:2] == "w"

    @property
    def executable(self) -> bool:
        return self.perms[2:3] == "x"

    @property
    def shared(self) -> bool:
        return self.perms[3:4] == "s"

    @property
    def vmflag_words(self) -> tuple[str, ...]:
        return tuple(VMFLAG_WORDS.get(f, f) for f in (self.vmflags or ()))


class Rollup(_Counters, namedtuple("Rollup", ("pid", "source") + COUNTER_FIELDS,
                                   defaults=("smaps_rollup",) + (None,) * len(COUNTER_FIELDS))):
    """/proc/PID/smaps_rollup (source "smaps" when summed from smaps because rollup was missing)."""

    __slots__ = ()


class Status(namedtuple("Status", "pid name state ppid uid euid threads vm other")):
    """/proc/PID/status: identity and the Vm*/Rss* lines in bytes (`vm`: VmPeak, VmSize, VmLck, VmPin,
    VmHWM, VmRSS, RssAnon, RssFile, RssShmem, VmData, VmStk, VmExe, VmLib, VmPTE, VmSwap, HugetlbPages);
    `other`: every other line verbatim (Cpus_allowed_list, ...)."""

    __slots__ = ()

    def vm_bytes(self, key: str) -> int | None:
        return self.vm.get(key)


_STAT_FIELDS = (
    "pid comm state ppid flags minflt cminflt majflt cmajflt utime_ticks stime_ticks num_threads "
    "starttime_ticks vsize_bytes rss_pages start_code end_code start_stack processor start_data end_data "
    "start_brk arg_start arg_end env_start env_end")


class Stat(namedtuple("Stat", _STAT_FIELDS)):
    """/proc/PID/stat fields memdive uses: flags (PF_*), fault counts, CPU ticks, start time, vsize,
    RSS in pages, and the address fields (start_code..env_end), which read 0 without ptrace access."""

    __slots__ = ()

    @property
    def is_kernel_thread(self) -> bool:
        return bool(self.flags & 0x00200000)
