/* pool.c - a lock-free, ABA-safe fixed-size slot pool (the seed's memory_pool_t done right).
 *
 * The seed's pool_alloc reads head->next and CASes head from obj to next: if between the read and
 * the CAS another thread pops obj, pops next and pushes obj back, the CAS succeeds and installs a
 * next that is in use (ABA). It also keeps the link inside the free object, so a late write through
 * a freed pointer corrupts the list, and a double free makes a cycle.
 *
 * Here:
 *  - The head is one 64-bit word: (generation << 28) | (index + 1), index 0 = empty. Every successful
 *    CAS bumps the 36-bit generation, so a head that went A -> B -> A no longer compares equal
 *    (it would take 2^36 operations between one thread's load and its CAS to wrap).
 *  - The links live out of band (uint32_t next[count]), never inside the slots: user data cannot
 *    corrupt the list.
 *  - A state byte per slot (0 free, 1 in use) is flipped by CAS on alloc and free: a double free or
 *    a free of a slot that was never handed out is detected and refused without touching the list,
 *    even when two threads free the same slot at once.
 *  - The hot path is two atomic read-modify-writes per operation (the head CAS and, on free, the
 *    state CAS): allocs, frees and in_use are derived at stats() time (generation = allocs + frees,
 *    in_use = slots in state 1), not counted per operation.
 *
 * Usable from C through the same library (memdive_pool.h) and from Python through ctypes; ctypes
 * releases the GIL around each call, so Python threads really run these concurrently.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memdive_native.h"
#include "pool.h"

#define CACHELINE 64
#define TAG_SHIFT 28
#define IDX_MASK ((1ull << TAG_SHIFT) - 1) /* up to 2^28 - 2 slots */

/* Tests compile this file with MEMDIVE_POOL_TEST_HOOK to run code inside the ABA window (between
 * reading the head's next link and the CAS) and so replay the ABA interleaving deterministically. */
#ifdef MEMDIVE_POOL_TEST_HOOK
void (*memdive_pool_test_hook)(void);
#define ABA_WINDOW()                                                                                         \
    do {                                                                                                     \
        if (memdive_pool_test_hook)                                                                          \
            memdive_pool_test_hook();                                                                        \
    } while (0)
#else
#define ABA_WINDOW() ((void)0)
#endif

struct memdive_pool {
    _Alignas(CACHELINE) uint64_t head;      /* (generation << 28) | (index + 1) */
    _Alignas(CACHELINE) uint64_t failures;  /* alloc on an empty pool (rare paths only below) */
    uint64_t double_frees;                  /* refused frees of a free slot */
    uint64_t foreign_frees;                 /* refused frees of a pointer not in the pool */
    _Alignas(CACHELINE) char *base;         /* first slot */
    size_t slot_size;
    size_t count;
    uint32_t *next;                         /* out-of-band links: next[i] = index + 1 of the next free */
    uint8_t *state;                         /* 0 free, 1 in use */
    int owns_base;                          /* base was mmapped by memdive_pool_create */
    void *meta;                             /* the one allocation holding next[] and state[] */
    size_t meta_len;
};

int memdive_pool_abi(void) { return MEMDIVE_NATIVE_ABI; }

static void *map_anon(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

memdive_pool_t *memdive_pool_init(void *base, size_t slot_size, size_t count) {
    if (slot_size == 0 || count == 0 || count >= IDX_MASK) {
        errno = EINVAL;
        return NULL;
    }
    if (slot_size > SIZE_MAX / count) {
        errno = EOVERFLOW;
        return NULL;
    }
    memdive_pool_t *pool = aligned_alloc(CACHELINE, (sizeof *pool + CACHELINE - 1) / CACHELINE * CACHELINE);
    if (!pool)
        return NULL;
    memset(pool, 0, sizeof *pool);
    size_t meta_len = count * sizeof(uint32_t) + count;
    void *meta = map_anon(meta_len);
    if (!meta) {
        free(pool);
        return NULL;
    }
    int owns = 0;
    if (!base) {
        base = map_anon(slot_size * count);
        if (!base) {
            int e = errno;
            munmap(meta, meta_len);
            free(pool);
            errno = e;
            return NULL;
        }
        owns = 1;
    }
    pool->base = base;
    pool->slot_size = slot_size;
    pool->count = count;
    pool->meta = meta;
    pool->meta_len = meta_len;
    pool->next = meta;
    pool->state = (uint8_t *)meta + count * sizeof(uint32_t);
    pool->owns_base = owns;
    /* Free list in address order: 0 -> 1 -> ... -> count-1 -> end (0). */
    for (size_t i = 0; i < count; i++)
        pool->next[i] = (uint32_t)(i + 1 < count ? i + 2 : 0);
    __atomic_store_n(&pool->head, 1ull, __ATOMIC_RELEASE); /* generation 0, index 0 */
    return pool;
}

memdive_pool_t *memdive_pool_create(size_t slot_size, size_t count) {
    return memdive_pool_init(NULL, slot_size, count);
}

void memdive_pool_destroy(memdive_pool_t *pool) {
    if (!pool)
        return;
    if (pool->owns_base)
        munmap(pool->base, pool->slot_size * pool->count);
    munmap(pool->meta, pool->meta_len);
    free(pool);
}

int64_t memdive_pool_alloc_index(memdive_pool_t *pool) {
    uint64_t head = __atomic_load_n(&pool->head, __ATOMIC_ACQUIRE);
    for (;;) {
        uint64_t slot1 = head & IDX_MASK;
        if (slot1 == 0) {
            __atomic_fetch_add(&pool->failures, 1, __ATOMIC_RELAXED);
            return -1;
        }
        /* next[] may be stale if another thread popped this slot meanwhile: the generation in
         * head then differs and the CAS below fails, so the stale value is never installed. */
        uint64_t nxt = __atomic_load_n(&pool->next[slot1 - 1], __ATOMIC_RELAXED);
        ABA_WINDOW();
        uint64_t want = (((head >> TAG_SHIFT) + 1) << TAG_SHIFT) | nxt;
        if (__atomic_compare_exchange_n(&pool->head, &head, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            size_t i = (size_t)(slot1 - 1);
            /* The slot was on the free list (state 0) and is now ours alone: a plain store will do. */
            __atomic_store_n(&pool->state[i], 1, __ATOMIC_RELEASE);
            return (int64_t)i;
        }
    }
}

void *memdive_pool_alloc(memdive_pool_t *pool) {
    int64_t i = memdive_pool_alloc_index(pool);
    return i < 0 ? NULL : pool->base + (size_t)i * pool->slot_size;
}

int memdive_pool_free_index(memdive_pool_t *pool, int64_t index) {
    if (index < 0 || (uint64_t)index >= pool->count) {
        __atomic_fetch_add(&pool->foreign_frees, 1, __ATOMIC_RELAXED);
        return MEMDIVE_POOL_FOREIGN;
    }
    size_t i = (size_t)index;
    uint8_t expect = 1;
    if (!__atomic_compare_exchange_n(&pool->state[i], &expect, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&pool->double_frees, 1, __ATOMIC_RELAXED);
        return MEMDIVE_POOL_DOUBLE_FREE;
    }
    uint64_t head = __atomic_load_n(&pool->head, __ATOMIC_RELAXED);
    for (;;) {
        __atomic_store_n(&pool->next[i], (uint32_t)(head & IDX_MASK), __ATOMIC_RELAXED);
        uint64_t want = (((head >> TAG_SHIFT) + 1) << TAG_SHIFT) | (uint64_t)(i + 1);
        if (__atomic_compare_exchange_n(&pool->head, &head, want, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
}

int memdive_pool_free(memdive_pool_t *pool, void *ptr) {
    uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)pool->base;
    if (p < b || p >= b + pool->slot_size * pool->count || (p - b) % pool->slot_size) {
        __atomic_fetch_add(&pool->foreign_frees, 1, __ATOMIC_RELAXED);
        return MEMDIVE_POOL_FOREIGN;
    }
    return memdive_pool_free_index(pool, (int64_t)((p - b) / pool->slot_size));
}

/* Up to N slots into out[]; returns how many (fewer when the pool runs empty). One call from Python
 * for many slots: the ctypes cost is paid once. */
size_t memdive_pool_alloc_many(memdive_pool_t *pool, int64_t *out, size_t n) {
    size_t got = 0;
    while (got < n) {
        int64_t i = memdive_pool_alloc_index(pool);
        if (i < 0)
            break;
        out[got++] = i;
    }
    return got;
}

/* Free N indices; returns 0, or the first refusal's code with *bad set to its position (the rest are
 * still freed: one bad index does not leak the others). */
int memdive_pool_free_many(memdive_pool_t *pool, const int64_t *idx, size_t n, size_t *bad) {
    int first = 0;
    for (size_t k = 0; k < n; k++) {
        int rc = memdive_pool_free_index(pool, idx[k]);
        if (rc && !first) {
            first = rc;
            if (bad)
                *bad = k;
        }
    }
    return first;
}

int memdive_pool_owns(const memdive_pool_t *pool, const void *ptr) {
    uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)pool->base;
    return p >= b && p < b + pool->slot_size * pool->count && (p - b) % pool->slot_size == 0;
}

int memdive_pool_in_use(const memdive_pool_t *pool, int64_t index) {
    if (index < 0 || (uint64_t)index >= pool->count)
        return -1;
    return __atomic_load_n(&pool->state[index], __ATOMIC_ACQUIRE);
}

void *memdive_pool_base(const memdive_pool_t *pool) { return pool->base; }

/* Exact when no other thread is allocating or freeing; a close snapshot otherwise. */
void memdive_pool_stats(const memdive_pool_t *pool, memdive_pool_stats_t *out) {
    out->slot_size = pool->slot_size;
    out->count = pool->count;
    uint64_t gen = __atomic_load_n(&pool->head, __ATOMIC_ACQUIRE) >> TAG_SHIFT;
    uint64_t in_use = 0;
    for (size_t i = 0; i < pool->count; i++)
        in_use += __atomic_load_n(&pool->state[i], __ATOMIC_RELAXED);
    out->in_use = in_use;
    /* generation = allocs + frees (mod 2^36), allocs - frees = in_use */
    out->allocs = (gen + in_use) / 2;
    out->frees = gen >= in_use ? (gen - in_use) / 2 : 0;
    out->failures = __atomic_load_n(&pool->failures, __ATOMIC_RELAXED);
    out->double_frees = __atomic_load_n(&pool->double_frees, __ATOMIC_RELAXED);
    out->foreign_frees = __atomic_load_n(&pool->foreign_frees, __ATOMIC_RELAXED);
    out->generation = gen;
}

/* For the benchmark and the stress test: N alloc/free pairs (holding up to `batch` slots at once)
 * in one C call, so the figure is the pool's and not ctypes'. Returns the number of failed allocs
 * (exhaustion under contention) or -1 if a slot was handed out twice (state already 1). */
int64_t memdive_pool_churn(memdive_pool_t *pool, uint64_t pairs, unsigned batch, uint64_t seed) {
    int64_t held[64];
    if (batch == 0 || batch > 64)
        batch = 64;
    int64_t failed = 0;
    uint64_t x = seed | 1;
    for (uint64_t n = 0; n < pairs;) {
        unsigned k = 1 + (unsigned)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 58) % batch;
        unsigned got = 0;
        for (unsigned j = 0; j < k; j++) {
            int64_t i = memdive_pool_alloc_index(pool);
            if (i < 0) {
                failed++;
                continue;
            }
            /* Write a stamp into the slot and check it after the others: two owners would clash. */
            if (pool->slot_size >= sizeof(uint64_t)) {
                uint64_t stamp = ((uint64_t)(uintptr_t)&held) ^ (uint64_t)i;
                memcpy(pool->base + (size_t)i * pool->slot_size, &stamp, sizeof stamp);
            }
            held[got++] = i;
        }
        for (unsigned j = 0; j < got; j++) {
            if (pool->slot_size >= sizeof(uint64_t)) {
                uint64_t stamp;
                memcpy(&stamp, pool->base + (size_t)held[j] * pool->slot_size, sizeof stamp);
                if (stamp != (((uint64_t)(uintptr_t)&held) ^ (uint64_t)held[j]))
                    return -1;
            }
            if (memdive_pool_free_index(pool, held[j]) != 0)
                return -1;
        }
        n += got ? got : 1;
    }
    return failed;
}
