/* trace_format.h - the memdive allocation trace file format (shared by shim.c and memdive.trace.reader).
 *
 * File = a 4096-byte header, then chunks. Each chunk starts with a 64-byte chunk header; chunks are
 * claimed by an atomic bump of the file offset, fallocate()d, and written through a MAP_SHARED mapping,
 * so everything stored before SIGKILL is in the page cache and reads back. A record is complete when
 * its last (event) or first (misc) 8-byte word is nonzero: that word is stored after the others.
 *
 * Bump MDT_VERSION when anything here changes; the reader refuses newer versions.
 */
#ifndef MEMDIVE_TRACE_FORMAT_H
#define MEMDIVE_TRACE_FORMAT_H

#include <stdint.h>

#define MDT_MAGIC "MEMDIVET"          /* 8 bytes at offset 0 */
#define MDT_VERSION 2
#define MDT_HEADER_SIZE 4096
#define MDT_CHUNK_MAGIC 0x4b43444du   /* "MDCK" little-endian */
#define MDT_CHUNK_HEADER 64

struct mdt_file_header {              /* at offset 0 */
    char magic[8];
    uint32_t version, header_size;
    uint32_t pid, ppid;
    uint64_t start_realtime_ns, start_monotonic_ns;
    uint32_t page_size, flags;        /* flags: MDT_F_* */
    uint32_t max_frames, reserved;
    uint64_t stack_slots;
    char allocator[64];               /* the object that provides malloc (libc.so.6, libjemalloc.so.2, ...) */
};
#define MDT_F_UNWIND_FP 1u
#define MDT_F_FOLLOW_FORK 2u
#define MDT_F_CHILD 4u                 /* this process was followed from a parent */

enum mdt_chunk_kind { MDT_CHUNK_EVENTS = 1, MDT_CHUNK_MISC = 2, MDT_CHUNK_BLOB = 3 };

struct mdt_chunk_header {             /* 64 bytes */
    uint32_t magic, kind;
    uint64_t size;                    /* whole chunk including this header */
    uint32_t pid, tid;
    uint32_t thread, reserved;        /* thread: the shim's index, as in events */
    uint64_t ts_ns;                   /* monotonic ns since start when claimed */
    uint8_t pad[24];
};

/* An event: 24 bytes, in a per-thread EVENTS chunk (the thread is the chunk's).
 *   w0 = ns since the chunk's ts_ns (32 bits) | stack id << 32 (0 = none)
 *   w1 = address (56 bits) | func << 56 (never 0: stored last, marks the record complete)
 *   w2 = size (56 bits: requested bytes for alloc/map, length for unmap, 0 for free) | flags << 56 */
struct mdt_event {
    uint64_t w0, w1, w2;
};
#define MDT_LOW56 ((1ull << 56) - 1)

#define MDT_FL_ZERO 1                 /* on a realloc(free) event: realloc(p, 0) */

enum mdt_func {
    MDT_FN_MALLOC = 1, MDT_FN_CALLOC, MDT_FN_REALLOC, MDT_FN_REALLOC_FREE, MDT_FN_REALLOCARRAY,
    MDT_FN_REALLOCARRAY_FREE, MDT_FN_FREE, MDT_FN_POSIX_MEMALIGN, MDT_FN_ALIGNED_ALLOC, MDT_FN_MEMALIGN,
    MDT_FN_VALLOC, MDT_FN_PVALLOC, MDT_FN_MMAP, MDT_FN_MUNMAP, MDT_FN_MREMAP, MDT_FN_MREMAP_FREE,
    MDT_FN_MAX
};

/* Misc records (in MISC chunks): header word = kind:8 | len:24 (bytes after the 16-byte head) | id:32,
 * then a u64 timestamp, then len bytes padded to 8. */
enum mdt_misc_kind {
    MDT_MISC_STACK = 1,               /* id = stack id, payload = return addresses (u64 each), innermost first */
    MDT_MISC_THREAD = 2,              /* id = thread index, payload = u32 tid, u32 0, char name[16] */
    MDT_MISC_RSS = 3,                 /* id = 0, payload = u64 resident bytes, u64 file+shmem resident bytes */
};

/* Blob records (one per BLOB chunk, right after the chunk header): u32 kind, u32 0, u64 len, u64 ts, data */
enum mdt_blob_kind {
    MDT_BLOB_MAPS = 1,                /* /proc/self/maps text */
    MDT_BLOB_CMDLINE = 2,             /* /proc/self/cmdline bytes */
    MDT_BLOB_EXE = 3,                 /* readlink /proc/self/exe */
    MDT_BLOB_MALLINFO2 = 4,           /* struct mallinfo2 (10 x size_t) then u32 reason */
    MDT_BLOB_MALLOC_INFO = 5,         /* malloc_info() XML */
    MDT_BLOB_PAGEMAP = 6,             /* u64 reason, u64 live_bytes, u64 nranges, {u64 start,end} * n, bitmaps */
    MDT_BLOB_EXIT = 7,                /* u64 reason (1 exit/destructor) */
    MDT_BLOB_FORK = 8,                /* in the parent: u64 child pid */
    MDT_BLOB_RSS = 9,                 /* u64 rss_bytes sampled (VmRSS) */
};

enum mdt_reason { MDT_R_EXIT = 1, MDT_R_SIGNAL = 2, MDT_R_PEAK = 3, MDT_R_START = 4 };

#endif
