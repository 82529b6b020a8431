/* pool.h - memdive's lock-free fixed-size slot pool, for C programs linking libmemdive_pool.so.
 *
 *   memdive_pool_t *p = memdive_pool_create(64, 1024);   // or memdive_pool_init(buf, 64, 1024)
 *   void *s = memdive_pool_alloc(p);                      // NULL when exhausted
 *   int rc = memdive_pool_free(p, s);                     // 0, MEMDIVE_POOL_DOUBLE_FREE, MEMDIVE_POOL_FOREIGN
 *   memdive_pool_destroy(p);
 *
 * All calls are thread-safe and lock-free. The slot memory (base) belongs to the caller when given
 * to memdive_pool_init; the pool never writes into slots (its links are kept out of band).
 */
#ifndef MEMDIVE_POOL_H
#define MEMDIVE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define MEMDIVE_POOL_DOUBLE_FREE (-2) /* the slot is already free */
#define MEMDIVE_POOL_FOREIGN (-3)     /* not the start of a slot of this pool */

typedef struct memdive_pool memdive_pool_t;

typedef struct { /* allocs and frees are mod 2^35 (derived from the 36-bit generation) */
    uint64_t slot_size, count, allocs, frees, in_use, failures, double_frees, foreign_frees, generation;
} memdive_pool_stats_t;

int memdive_pool_abi(void);
memdive_pool_t *memdive_pool_init(void *base, size_t slot_size, size_t count);
memdive_pool_t *memdive_pool_create(size_t slot_size, size_t count);
void memdive_pool_destroy(memdive_pool_t *pool);
void *memdive_pool_alloc(memdive_pool_t *pool);
int64_t memdive_pool_alloc_index(memdive_pool_t *pool);
int memdive_pool_free(memdive_pool_t *pool, void *ptr);
int memdive_pool_free_index(memdive_pool_t *pool, int64_t index);
size_t memdive_pool_alloc_many(memdive_pool_t *pool, int64_t *out, size_t n);
int memdive_pool_free_many(memdive_pool_t *pool, const int64_t *idx, size_t n, size_t *bad);
int memdive_pool_owns(const memdive_pool_t *pool, const void *ptr);
int memdive_pool_in_use(const memdive_pool_t *pool, int64_t index);
void *memdive_pool_base(const memdive_pool_t *pool);
void memdive_pool_stats(const memdive_pool_t *pool, memdive_pool_stats_t *out);
int64_t memdive_pool_churn(memdive_pool_t *pool, uint64_t pairs, unsigned batch, uint64_t seed);

#endif
