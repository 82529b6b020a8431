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
 *
 * esrch_last: the last name is read only for a process whose first file failed with ESRCH (no
 * address space: a kernel thread or a zombie; its stat tells which), and its errs slot is -1 for the
 * others. Telling them apart here saves a serial read per kernel thread afterwards.
 *
 * The caller of mdc_procread_wait() reads too, as one more worker, until nothing is left: start
 * one thread fewer than there are CPUs, and while the caller is busy elsewhere the CPUs are not
 * oversubscribed (two runnable threads per CPU slow both: measured), yet all of them read at the end.
 *
 * Without a PID list, the first thread to run lists proc (a millisecond for 400 processes: the
 * kernel builds a dentry per PID) while the caller goes on. The threads then take processes
 * CHUNK at a time from a shared counter, so one slow process does not hold up a fixed share.
 */
#define _GNU_SOURCE
#include "procread.h"

#include <dirent.h>
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
#define CHUNK 8

typedef struct {
    char *buf;
    size_t len, cap;
    int failed; /* out of memory */
} growbuf;

typedef struct {
    mdc_procread *h;
    growbuf out;
} worker;

struct mdc_procread {
    char proc[4096];
    const char *names[8];
    int whole[8]; /* whole_in_one_read(names[j]) */
    char namebuf[512];
    int nnames, npids, nthreads, started, waited, wait_rc, esrch_last;
    /* the PID list: given, or made by the first thread (listing: 1 while one lists, 2 when done) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int listing, list_err;
    int next; /* the next process to take (atomic) */
    int32_t *pids;
    int32_t *errs;
    uint32_t *uids;
    int64_t *offs; /* into the worker's buffer until wait(), then into data */
    int64_t *lens;
    uint8_t *owner; /* which worker's buffer holds the slot */
    char *data;
    int64_t data_len;
    worker w[MDC_MAX_THREADS + 1]; /* the last one used: the caller of wait() */
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

/* Files the kernel hands over whole in one read when the buffer is large enough: single_open seq
 * files (one show() call: smaps_rollup, stat, statm, status, comm) and cmdline/environ (copied from
 * the target's memory until the buffer is full). For them a short read is the end, and not asking
 * again for the end of file saves a read per file (for cmdline, one more take of the target's mmap
 * lock). Not so for multi-record seq files such as maps or smaps: each read returns one seq buffer
 * (a page or so) while more remain. Regular files (fixture trees) end at a short read too. */
static int whole_in_one_read(const char *name) {
    static const char *const whole[] = {"smaps_rollup", "stat", "statm", "status", "comm", "cmdline", "environ"};
    for (size_t i = 0; i < sizeof whole / sizeof *whole; i++)
        if (!strcmp(name, whole[i])) return 1;
    return 0;
}

/* The whole file into g; returns 0 or an errno. `whole`: see whole_in_one_read. */
static int read_file(growbuf *g, const char *path, int whole, uint32_t *uid, int64_t *off, int64_t *len) {
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
        size_t want = g->cap - g->len;
        ssize_t n = read(fd, g->buf + g->len, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        if (n == 0) break;
        g->len += (size_t)n;
        if (whole && (size_t)n < want) break;
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

static int alloc_slots(mdc_procread *h) {
    size_t slots = (size_t)h->npids * (size_t)h->nnames + 1;
    h->uids = calloc((size_t)h->npids + 1, sizeof *h->uids);
    h->errs = calloc(slots, sizeof *h->errs);
    h->offs = calloc(slots, sizeof *h->offs);
    h->lens = calloc(slots, sizeof *h->lens);
    h->owner = calloc(slots, 1);
    return h->uids && h->errs && h->offs && h->lens && h->owner ? 0 : ENOMEM;
}

/* The PID list is there (or failed) when this returns; the first thread to ask makes it. */
static void ensure_listed(mdc_procread *h) {
    pthread_mutex_lock(&h->mu);
    if (h->listing == 0) {
        h->listing = 1;
        pthread_mutex_unlock(&h->mu);
        int32_t *pids = NULL;
        int n = mdc_list_pids(h->proc, &pids);
        int err = n < 0 ? errno : 0;
        pthread_mutex_lock(&h->mu);
        if (!err) {
            h->pids = pids;
            h->npids = n;
            err = alloc_slots(h);
        }
        h->list_err = err;
        h->listing = 2;
        pthread_cond_broadcast(&h->cv);
    }
    while (h->listing != 2) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void *work(void *p) {
    worker *w = p;
    mdc_procread *h = w->h;
    char path[4096 + 64];
    ensure_listed(h);
    if (h->list_err) return NULL;
    for (;;) {
        int first = __atomic_fetch_add(&h->next, CHUNK, __ATOMIC_RELAXED);
        if (first >= h->npids) break;
        int last = first + CHUNK < h->npids ? first + CHUNK : h->npids;
        int nalways = h->nnames - h->esrch_last;
        for (int i = first; i < last; i++) {
            int32_t *err = &h->errs[i * h->nnames];
            for (int j = 0; j < nalways; j++) {
                int slot = i * h->nnames + j;
                snprintf(path, sizeof path, "%s/%d/%s", h->proc, (int)h->pids[i], h->names[j]);
                h->owner[slot] = (uint8_t)(w - h->w);
                err[j] = read_file(&w->out, path, h->whole[j], j == 0 ? &h->uids[i] : NULL, &h->offs[slot],
                                   &h->lens[slot]);
                if (j == 0 && err[0]) { /* the process is gone or shut: its other files are not read */
                    for (int k = 1; k < nalways; k++) err[k] = err[0];
                    break;
                }
            }
            if (h->esrch_last) {
                int j = h->nnames - 1, slot = i * h->nnames + j;
                err[j] = -1;
                if (err[0] == ESRCH) {
                    snprintf(path, sizeof path, "%s/%d/%s", h->proc, (int)h->pids[i], h->names[j]);
                    h->owner[slot] = (uint8_t)(w - h->w);
                    err[j] = read_file(&w->out, path, h->whole[j], NULL, &h->offs[slot], &h->lens[slot]);
                }
            }
        }
    }
    return NULL;
}

static int cmp_pid(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int mdc_list_pids(const char *proc, int32_t **out) {
    DIR *d = opendir(proc);
    if (!d) return -1;
    size_t n = 0, cap = 1024;
    int32_t *p = malloc(cap * sizeof *p);
    if (!p) {
        closedir(d);
        errno = ENOMEM;
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *c = e->d_name;
        long v = 0;
        if (*c < '1' || *c > '9') continue; /* PIDs start at 1: no sign, no leading zero */
        for (; *c >= '0' && *c <= '9' && v < (1L << 31); c++) v = v * 10 + (*c - '0');
        if (*c || v >= (1L << 31)) continue;
        if (n == cap) {
            int32_t *q = realloc(p, 2 * cap * sizeof *p);
            if (!q) {
                free(p);
                closedir(d);
                errno = ENOMEM;
                return -1;
            }
            p = q;
            cap *= 2;
        }
        p[n++] = (int32_t)v;
    }
    closedir(d);
    qsort(p, n, sizeof *p, cmp_pid);
    *out = p;
    return (int)n;
}

/* names: nnames NUL-terminated names packed one after another (e.g. "smaps_rollup\0cmdline\0").
 * pids NULL: every PID directory of proc, listed by the first thread (npids ignored).
 * esrch_last: see the top of this file (needs two names or more).
 * Returns NULL on bad arguments or when no thread could start (errno set). */
mdc_procread *mdc_procread_start(const char *proc, const int32_t *pids, int npids, const char *names, int nnames,
                                 int nthreads, int esrch_last) {
    if (!proc || strlen(proc) >= 4096 || (pids && npids < 0) || !names || nnames < 1 || nnames > 8 ||
        (esrch_last && nnames < 2)) {
        errno = EINVAL;
        return NULL;
    }
    mdc_procread *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    strcpy(h->proc, proc);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    size_t pos = 0;
    for (int j = 0; j < nnames; j++) {
        size_t l = strlen(names + pos);
        if (pos + l + 1 > sizeof h->namebuf) {
            mdc_procread_free(h);
            errno = EINVAL;
            return NULL;
        }
        memcpy(h->namebuf + pos, names + pos, l + 1);
        h->names[j] = h->namebuf + pos;
        h->whole[j] = whole_in_one_read(h->names[j]);
        pos += l + 1;
    }
    h->nnames = nnames;
    h->esrch_last = esrch_last ? 1 : 0;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MDC_MAX_THREADS) nthreads = MDC_MAX_THREADS;
    if (pids) {
        h->npids = npids;
        h->pids = malloc(((size_t)npids + 1) * sizeof *h->pids);
        if (!h->pids || alloc_slots(h)) {
            mdc_procread_free(h);
            errno = ENOMEM;
            return NULL;
        }
        if (npids) memcpy(h->pids, pids, (size_t)npids * sizeof *pids);
        h->listing = 2;
        if (nthreads > npids / 16 + 1) nthreads = npids / 16 + 1; /* a thread costs more than 16 reads */
    }
    for (int t = 0; t < nthreads; t++) h->w[t].h = h;
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&h->th[t], NULL, work, &h->w[t]) != 0) break;
        h->started++;
    }
    if (h->started == 0) {
        mdc_procread_free(h);
        errno = EAGAIN;
        return NULL;
    }
    h->nthreads = h->started; /* the threads share the work: those that did not start are not missed */
    return h;
}

/* Joins the threads and gathers every file into one buffer. Returns 0, ENOMEM, or the errno of
 * listing proc. */
int mdc_procread_wait(mdc_procread *h) {
    if (!h) return EINVAL;
    if (h->waited) return h->wait_rc; /* a second call: the same answer, nothing read twice */
    h->waited = 1;
    h->w[h->nthreads].h = h;
    work(&h->w[h->nthreads]); /* what the threads have not taken yet, the caller reads */
    h->nthreads++;
    for (int t = 0; t < h->started; t++) pthread_join(h->th[t], NULL);
    h->started = 0;
    if (h->list_err) return h->wait_rc = h->list_err;
    h->wait_rc = ENOMEM; /* until the gathering below succeeds */
    int64_t total = 0, base[MDC_MAX_THREADS + 1];
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
        if (!h->errs[s]) h->offs[s] += base[h->owner[s]];  /* -1 (not read) and errnos have no bytes */
    h->data_len = total;
    h->wait_rc = 0;
    return 0;
}

/* The PIDs read (after mdc_procread_wait). */
const int32_t *mdc_procread_pids(const mdc_procread *h, int *npids) {
    *npids = h->npids;
    return h->pids;
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
    for (int t = 0; t <= MDC_MAX_THREADS; t++) free(h->w[t].out.buf);
    free(h->pids);
    free(h->uids);
    free(h->errs);
    free(h->offs);
    free(h->lens);
    free(h->owner);
    free(h->data);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
