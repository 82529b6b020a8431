/* procread.h - the parallel /proc reader of procread.c, used by the _procread extension module. */
#ifndef MEMDIVE_PROCREAD_H
#define MEMDIVE_PROCREAD_H

#include <stdint.h>

typedef struct mdc_procread mdc_procread;

/* Every PID directory (a name of digits) under proc, sorted: *out is malloc'd (free it).
 * Returns the count, or -1 with errno set. */
int mdc_list_pids(const char *proc, int32_t **out);

mdc_procread *mdc_procread_start(const char *proc, const int32_t *pids, int npids, const char *names, int nnames,
                                 int nthreads, int esrch_last);
int mdc_procread_wait(mdc_procread *h);
const char *mdc_procread_data(const mdc_procread *h, int64_t *len);
const int32_t *mdc_procread_errs(const mdc_procread *h);
const uint32_t *mdc_procread_uids(const mdc_procread *h);
const int64_t *mdc_procread_offs(const mdc_procread *h);
const int64_t *mdc_procread_lens(const mdc_procread *h);
const int32_t *mdc_procread_pids(const mdc_procread *h, int *npids); /* after wait */
void mdc_procread_free(mdc_procread *h);

#endif
