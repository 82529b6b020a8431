"""Records of an allocation trace (memdive trace): call sites, heap state, the resident join, the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Frame:
    address: int                 # return address in the traced process
    function: str                # "??" when unknown
    file: str = ""               # source file where debug info exists
    line: int = 0
    object: str = ""             # the mapped file (library or executable)
    inlined: bool = False        # an inlined frame addr2line reported for the same address


@dataclass(frozen=True, slots=True)
class CallSite:
    stack_id: int
    frames: tuple[Frame, ...]
    allocations: int             # allocation calls from this stack
    allocated_bytes: int         # requested bytes over the whole run
    peak_bytes: int              # bytes of this site's allocations live at the heap peak
    peak_count: int
    leaked_bytes: int            # still allocated at the end of the trace
    leaked_count: int
    temporary: int               # allocations freed with no other allocation in between (same thread)
    resident_peak_bytes: int | None = None   # of peak_bytes, resident at the snapshot nearest the peak
    resident_exit_bytes: int | None = None   # of leaked_bytes, resident at the exit snapshot
    internal: bool = False       # allocated by the C runtime itself (stdio buffers...): not a leak
    mmap: bool = False           # the program's own mmap regions, not heap blocks
    stacks: int = 1              # distinct stacks merged here (same functions and lines; stack_id is the largest)


@dataclass(frozen=True, slots=True)
class HeapInfo:
    """glibc's view of its heap (mallinfo2 + malloc_info), at exit or on request (signal)."""
    reason: str                  # "exit" | "signal"
    time_seconds: float
    arena_bytes: int             # non-mmapped space from the system (sbrk + arenas)
    in_use_bytes: int            # uordblks
    free_held_bytes: int         # fordblks: free but held by the allocator
    top_pad_bytes: int           # keepcost: releasable top-most free chunk
    mmapped_bytes: int           # hblkhd
    mmapped_chunks: int          # hblks
    free_chunks: int             # ordblks
    fastbin_bytes: int           # fsmblks
    arenas: int                  # from malloc_info
    allocator: str = ""


@dataclass(frozen=True, slots=True)
class ResidentJoin:
    """Live blocks at a pagemap snapshot joined with the resident pages of heap/anonymous mappings."""
    reason: str                  # "peak" | "exit" | "signal"
    time_seconds: float
    live_bytes: int              # live requested bytes at the snapshot
    live_resident_bytes: int     # of those, bytes on resident pages
    heap_resident_bytes: int     # resident bytes of the heap and anonymous mappings
    free_held_resident_bytes: int  # resident pages holding no live block: free-but-held heap in RSS


@dataclass(frozen=True, slots=True)
class TraceReport:
    path: str
    pid: int
    command: list[str]
    exe: str
    allocator: str
    complete: bool               # the trace has its exit record (else: killed, abort, _exit)
    truncated: bool              # the file ends mid-chunk
    duration_seconds: float
    threads: int
    events: int
    calls: dict[str, int]        # per function: malloc, calloc, realloc, ... munmap, mremap
    allocations: int
    allocated_bytes: int
    temporary: int
    frees: int
    peak_bytes: int
    peak_time_seconds: float
    leaked_count: int
    leaked_bytes: int
    internal_count: int          # held by libc at exit (not leaks)
    internal_bytes: int
    mmap_peak_bytes: int
    mmap_leaked_bytes: int
    rss_peak_bytes: int | None
    sites_by_peak: list[CallSite] = field(default_factory=list)
    sites_by_leaked: list[CallSite] = field(default_factory=list)
    sites_by_count: list[CallSite] = field(default_factory=list)
    heap: list[HeapInfo] = field(default_factory=list)
    resident: list[ResidentJoin] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
