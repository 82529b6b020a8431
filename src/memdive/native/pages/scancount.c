/* scancount.c - per-region page counts from PAGEMAP_SCAN runs (memdive.pages.walker).
 *
 * The THP walk of a large process returns few, long runs; counting them per mapping in numpy costs
 * a dozen array operations (~100-200 us cold) for what is one pass here. Both inputs are sorted by
 * address: runs (struct page_region: start, end exclusive, categories) do not overlap, regions
 * [lo[i], hi[i]) do not overlap. A run crossing region edges is split page-exactly; parts outside
 * every region are dropped. out: R x 4 int64 (present, swapped, zero page, PMD-mapped), added to.
 */
#include <stddef.h>
#include <stdint.h>

#define PAGE_IS_PRESENT (1u << 3)
#define PAGE_IS_SWAPPED (1u << 4)
#define PAGE_IS_PFNZERO (1u << 5)
#define PAGE_IS_HUGE (1u << 6)

void memdive_scan_counts(const uint64_t *runs, size_t n, const int64_t *lo, const int64_t *hi, size_t nreg,
                         int64_t page, int64_t *out)
{
    size_t r = 0;
    for (size_t j = 0; j < n; j++) {
        int64_t a = (int64_t)runs[3 * j], z = (int64_t)runs[3 * j + 1];
        uint64_t c = runs[3 * j + 2];
        while (r < nreg && hi[r] <= a)
            r++;
        for (size_t k = r; k < nreg && lo[k] < z; k++) {
            int64_t s = a > lo[k] ? a : lo[k], e = z < hi[k] ? z : hi[k];
            if (e <= s)
                continue;
            int64_t p = (e - s) / page, *o = out + 4 * k;
            o[0] += (c & PAGE_IS_PRESENT) ? p : 0;
            o[1] += (c & PAGE_IS_SWAPPED) ? p : 0;
            o[2] += (c & PAGE_IS_PFNZERO) ? p : 0;
            o[3] += (c & PAGE_IS_HUGE) ? p : 0;
        }
    }
}
