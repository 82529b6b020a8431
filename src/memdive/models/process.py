"""Records of one process: its mappings (smaps), rollup, status, stat."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

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


@dataclass(frozen=True, slots=True, kw_only=True)
class MemCounters:
    """The smaps counters, in bytes. None: this kernel does not report that counter."""

    rss_bytes: int | None = None
    pss_bytes: int | None = None
    pss_dirty_bytes: int | None = None
    pss_anon_bytes: int | None = None
    pss_file_bytes: int | None = None
    pss_shmem_bytes: int | None = None
    shared_clean_bytes: int | None = None
    shared_dirty_bytes: int | None = None
    private_clean_bytes: int | None = None
    private_dirty_bytes: int | None = None
    referenced_bytes: int | None = None
    anonymous_bytes: int | None = None
    ksm_bytes: int | None = None
    lazyfree_bytes: int | None = None
    anon_huge_bytes: int | None = None
    shmem_pmd_bytes: int | None = None
    file_pmd_bytes: int | None = None
    shared_hugetlb_bytes: int | None = None
    private_hugetlb_bytes: int | None = None
    swap_bytes: int | None = None
    swap_pss_bytes: int | None = None
    locked_bytes: int | None = None

    @property
    def uss_bytes(self) -> int:
        """Unique set size: private clean + private dirty (+ private hugetlb)."""
        return (self.private_clean_bytes or 0) + (self.private_dirty_bytes or 0) + (
            self.private_hugetlb_bytes or 0)


COUNTER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MemCounters))


@dataclass(frozen=True, slots=True, kw_only=True)
class Mapping(MemCounters):
    """One VMA from /proc/PID/smaps (or maps, then all counters are None)."""

    start: int
    end: int
    perms: str                 # e.g. "rw-p"
    offset: int
    dev: str                   # "fd:01"
    inode: int
    name: str                  # exactly as the kernel printed it ("" for anonymous)
    size_bytes: int | None = None
    kernel_page_size_bytes: int | None = None
    mmu_page_size_bytes: int | None = None
    thp_eligible: bool | None = None
    protection_key: int | None = None
    vmflags: tuple[str, ...] | None = None   # two-letter codes; None when the kernel has no VmFlags line

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollup(MemCounters):
    """/proc/PID/smaps_rollup (or smaps summed when rollup is missing)."""

    pid: int
    source: str = "smaps_rollup"   # or "smaps" when it fell back


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """/proc/PID/status: identity and the Vm* / Rss* lines, in bytes."""

    pid: int
    name: str
    state: str
    ppid: int
    uid: int                        # real uid
    euid: int
    threads: int
    vm: dict[str, int] = field(default_factory=dict)  # VmPeak, VmSize, VmLck, VmPin, VmHWM, VmRSS,
                                                        # RssAnon, RssFile, RssShmem, VmData, VmStk,
                                                        # VmExe, VmLib, VmPTE, VmSwap, HugetlbPages
    other: dict[str, str] = field(default_factory=dict)  # every other line, verbatim (Cpus_allowed_list, ...)

    def vm_bytes(self, key: str) -> int | None:
        return self.vm.get(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat:
    """/proc/PID/stat fields memdive uses (proc(5) numbering in comments)."""

    pid: int
    comm: str
    state: str
    ppid: int
    flags: int                 # (9) PF_* flags; PF_KTHREAD = 0x00200000
    minflt: int                # (10)
    cminflt: int
    majflt: int                # (12)
    cmajflt: int
    utime_ticks: int           # (14)
    stime_ticks: int
    num_threads: int           # (20)
    starttime_ticks: int       # (22)
    vsize_bytes: int           # (23)
    rss_pages: int             # (24)
    start_code: int            # (26) these address fields read 0 without ptrace access
    end_code: int
    start_stack: int           # (28)
    processor: int             # (39)
    start_data: int            # (45)
    end_data: int
    start_brk: int             # (47)
    arg_start: int
    arg_end: int
    env_start: int
    env_end: int               # (51)

    @property
    def is_kernel_thread(self) -> bool:
        return bool(self.flags & 0x00200000)
