/* procread.c - read a few small /proc files of many processes on a few threads, in the background.
 *
 * Why C: `memdive ps` reads two files of every process (smaps_rollup and cmdline). Most of that time
 * is the kernel generating the files; from Python each open/fstat/read/close also hands the GIL over,
 * and Python threads reading in parallel mostly wait for it. These threads never touch the
 * interpreter, so the reads run on every CPU while Python is still importing the command.
 *
 * mdc_procread_start() returns at once; mdc_procread_wait() joins and lays the results out in one
 * buffer. For process i and file j (slot i * nnames + j): errs[slot] is 0 or the errno of the open
 * or read, data + offs[slot] holds lens[slot] bytes (the whole file), and uids[i] is the owner of
 * file 0 (fstat of the open file: the process's effective uid, as /proc shows it).
 */
#define _GNU_SOURCE
#include "memdive_native.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MDC_MAX_THREADS 16

typedef struct {
    char *buf;
    size_t len, cap;
    int failed; /* out of memory */
} growbuf;

typedef struct mdc_procread mdc_procread;

typedef struct {
    mdc_procread *h;
    int first, step; /* processes first, first + step, ... */
    growbuf out;
} worker;

struct mdc_procread {
    char proc[4096];
    const char *names[8];
    char namebuf[512];
    int nnames, npids, nthreads, started, waited, wait_rc;
    int32_t *pids;
    int32_t *errs;
    uint32_t *uids;
    int64_t *offs; /* into the worker's buffer until wait(), then into data */
    int64_t *lens;
    uint8_t *owner; /* which worker's buffer holds the slot */
    char *data;
    int64_t data_len;
    worker w[MDC_MAX_THREADS];
    pthread_t th[MDC_MAX_THREADS];
};

static int reserve(growbuf *g, size_t more) {
    if (g->len + more <= g->cap) return 0;
    size_t cap = g->cap ? g->cap : 1 << 16;
    while (cap < g->len + more) cap *= 2;
    char *p = realloc(g->buf, cap);
    if (!p) {
        g->failed = 1;
        return -1;
    }
    g->buf = p;
    g->cap = cap;
    return 0;
}

/* The whole file into g; returns 0 or an errno. */
static int read_file(growbuf *g, const char *path, uint32_t *uid, int64_t *off, int64_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = 0;
    if (uid) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            err = errno;
            close(fd);
            return err;
        }
        *uid = st.st_uid;
    }
    size_t start = g->len;
    for (;;) {
        if (reserve(g, 16384) != 0) {
            err = ENOMEM;
            break;
        }
        ssize_t n = read(fd, g->buf + g->len, g->cap - g->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        if (n == 0) break;
        g->len += (size_t)n;
    }
    close(fd);
    if (err) {
        g->len = start;
        return err;
    }
    *off = (int64_t)start;
    *len = (int64_t)(g->len - start);
    return 0;
}

static void *work(void *p) {
    worker *w = p;
    mdc_procread *h = w->h;
    char path[4096 + 64];
    for (int i = w->first; i < h->npids; i += w->step) {
        for (int j = 0; j < h->nnames; j++) {
            int slot = i * h->nnames + j;
            snprintf(path, sizeof path, "%s/%d/%s", h->proc, (int)h->pids[i], h->names[j]);
            h->owner[slot] = (uint8_t)(w - h->w);
            h->errs[slot] = read_file(&w->out, path, j == 0 ? &h->uids[i] : NULL, &h->offs[slot], &h->lens[slot]);
            if (j == 0 && h->errs[slot]) { /* the process is gone or shut: its other files are not read */
                for (int k = 1; k < h->nnames; k++) h->errs[i * h->nnames + k] = h->errs[slot];
                break;
            }
        }
    }
    return NULL;
}

void mdc_procread_free(mdc_procread *h);

/* names: nnames NUL-terminated names packed one after another (e.g. "smaps_rollup\0cmdline\0").
 * Returns NULL on bad arguments or when no thread could start (errno set). */
mdc_procread *mdc_procread_start(const char *proc, const int32_t *pids, int npids, const char *names, int nnames,
                                 int nthreads) {
    if (!proc || strlen(proc) >= 4096 || npids < 0 || (npids && !pids) || !names || nnames < 1 || nnames > 8) {
        errno = EINVAL;
        return NULL;
    }
    mdc_procread *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    strcpy(h->proc, proc);
    size_t pos = 0;
    for (int j = 0; j < nnames; j++) {
        size_t l = strlen(names + pos);
        if (pos + l + 1 > sizeof h->namebuf) {
            free(h);
            errno = EINVAL;
            return NULL;
        }
        memcpy(h->namebuf + pos, names + pos, l + 1);
        h->names[j] = h->namebuf + pos;
        pos += l + 1;
    }
    h->nnames = nnames;
    h->npids = npids;
    size_t slots = (size_t)npids * (size_t)nnames + 1;
    h->pids = malloc(((size_t)npids + 1) * sizeof *h->pids);
    h->uids = calloc((size_t)npids + 1, sizeof *h->uids);
    h->errs = calloc(slots, sizeof *h->errs);
    h->offs = calloc(slots, sizeof *h->offs);
    h->lens = calloc(slots, sizeof *h->lens);
    h->owner = calloc(slots, 1);
    if (!h->pids || !h->uids || !h->errs || !h->offs || !h->lens || !h->owner) {
        mdc_procread_free(h);
        errno = ENOMEM;
        return NULL;
    }
    if (npids) memcpy(h->pids, pids, (size_t)npids * sizeof *pids);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MDC_MAX_THREADS) nthreads = MDC_MAX_THREADS;
    if (nthreads > npids / 16 + 1) nthreads = npids / 16 + 1; /* a thread costs more than 16 reads */
    for (int t = 0; t < nthreads; t++) {
        h->w[t].h = h;
        h->w[t].first = t;
        h->w[t].step = nthreads;
    }
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&h->th[t], NULL, work, &h->w[t]) != 0) break;
        h->started++;
    }
    if (h->started == 0) {
        mdc_procread_free(h);
        errno = EAGAIN;
        return NULL;
    }
    /* a thread that could not start: its share is read by mdc_procread_wait's caller */
    h->nthreads = nthreads;
    return h;
}

/* Joins the threads and gathers every file into one buffer. Returns 0, or ENOMEM. */
int mdc_procread_wait(mdc_procread *h) {
    if (!h) return EINVAL;
    if (h->waited) return h->wait_rc; /* a second call: the same answer, nothing read twice */
    h->waited = 1;
    for (int t = 0; t < h->started; t++) pthread_join(h->th[t], NULL);
    for (int t = h->started; t < h->nthreads; t++) work(&h->w[t]); /* threads that could not start */
    h->started = 0;
    h->wait_rc = ENOMEM; /* until the gathering below succeeds */
    int64_t total = 0, base[MDC_MAX_THREADS];
    for (int t = 0; t < h->nthreads; t++) {
        if (h->w[t].out.failed) return ENOMEM;
        base[t] = total;
        total += (int64_t)h->w[t].out.len;
    }
    h->data = malloc((size_t)total + 1);
    if (!h->data) return ENOMEM;
    for (int t = 0; t < h->nthreads; t++) {
        if (h->w[t].out.len) memcpy(h->data + base[t], h->w[t].out.buf, h->w[t].out.len);
        free(h->w[t].out.buf);
        h->w[t].out.buf = NULL;
    }
    size_t slots = (size_t)h->npids * (size_t)h->nnames;
    for (size_t s = 0; s < slots; s++)
        if (!h->errs[s]) h->offs[s] += base[h->owner[s]];
    h->data_len = total;
    h->wait_rc = 0;
    return 0;
}

const char *mdc_procread_data(const mdc_procread *h, int64_t *len) {
    *len = h->data_len;
    return h->data;
}
const int32_t *mdc_procread_errs(const mdc_procread *h) { return h->errs; }
const uint32_t *mdc_procread_uids(const mdc_procread *h) { return h->uids; }
const int64_t *mdc_procread_offs(const mdc_procread *h) { return h->offs; }
const int64_t *mdc_procread_lens(const mdc_procread *h) { return h->lens; }

void mdc_procread_free(mdc_procread *h) {
    if (!h) return;
    for (int t = 0; t < h->started; t++) pthread_join(h->th[t], NULL);
    for (int t = 0; t < MDC_MAX_THREADS; t++) free(h->w[t].out.buf);
    free(h->pids);
    free(h->uids);
    free(h->errs);
    free(h->offs);
    free(h->lens);
    free(h->owner);
    free(h->data);
    free(h);
}
