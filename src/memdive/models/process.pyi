"""Type stub: the records are named tuples built at run time (fast to import); this declares their fields."""

from typing import NamedTuple

SMAPS_KB_FIELDS: dict[bytes, str]
VMFLAG_WORDS: dict[str, str]
COUNTER_FIELDS: tuple[str, ...]

class Mapping(NamedTuple):
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    name: str
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
    size_bytes: int | None = None
    kernel_page_size_bytes: int | None = None
    mmu_page_size_bytes: int | None = None
    thp_eligible: bool | None = None
    protection_key: int | None = None
    vmflags: tuple[str, ...] | None = None
    @property
    def uss_bytes(self) -> int: ...
    @property
    def length_bytes(self) -> int: ...
    @property
    def readable(self) -> bool: ...
    @property
    def writable(self) -> bool: ...
    @property
    def executable(self) -> bool: ...
    @property
    def shared(self) -> bool: ...
    @property
    def vmflag_words(self) -> tuple[str, ...]: ...

class Rollup(NamedTuple):
    pid: int
    source: str = "smaps_rollup"
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
    def uss_bytes(self) -> int: ...

class Status(NamedTuple):
    pid: int
    name: str
    state: str
    ppid: int
    uid: int
    euid: int
    threads: int
    vm: dict[str, int]
    other: dict[str, str]
    def vm_bytes(self, key: str) -> int | None: ...

class Stat(NamedTuple):
    pid: int
    comm: str
    state: str
    ppid: int
    flags: int
    minflt: int
    cminflt: int
    majflt: int
    cmajflt: int
    utime_ticks: int
    stime_ticks: int
    num_threads: int
    starttime_ticks: int
    vsize_bytes: int
    rss_pages: int
    start_code: int
    end_code: int
    start_stack: int
    processor: int
    start_data: int
    end_data: int
    start_brk: int
    arg_start: int
    arg_end: int
    env_start: int
    env_end: int
    @property
    def is_kernel_thread(self) -> bool: ...
