/* procreadmodule.c - memdive.native._procread: the parallel /proc reader (procread.c) for Python.
 *
 * Why an extension module and not ctypes, like the other C libraries: `memdive ps` must finish close
 * to the time `cat` takes to read every smaps_rollup, and importing ctypes alone costs a tenth of
 * that. This module imports in a fraction of a millisecond, lists the PIDs, starts the reads, and
 * hands the results back as Python objects, without a ctypes call per array.
 *
 *   start(proc, names, pids=None, threads=1, kb_file=-1, on_esrch=None) -> Reader  (reads start at once)
 *   Reader.wait() -> [(pid, uid, [item per name])]                   (the GIL is released meanwhile)
 *
 * An item is the file's bytes, or an int: the errno that stopped its read. When the first file
 * failed, the others carry its errno unread and uid is meaningless. Reader.pids: the PIDs read
 * (None until wait() when proc is being listed by the threads).
 *
 * kb_file: the index of a file printed as one header line then "Key: N kB" lines (smaps_rollup).
 * Its item is then (keys, values) instead of bytes: keys a tuple of the key tokens with their colon
 * (one shared tuple for every process printing the same keys), values a tuple of the byte counts
 * (N * 1024) followed by one None, so a layout can point a counter the kernel lacks at that None.
 * Anything else in that file (a value that is not plain digits, a missing unit, a header line that
 * is not an address range) leaves
 * the item as bytes: the Python parser then decides, and reports, as it would have.
 *
 * on_esrch: a name read only for a process whose first file failed with ESRCH (no address space:
 * a kernel thread or a zombie; "stat" tells which). It comes last in the row: its bytes or errno for
 * those processes, None for the others.
 *
 * A Reader is waited for by one thread at a time: a second wait() while the first runs (with the
 * GIL released) raises RuntimeError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>

#include "procread.h"

typedef struct {
    PyObject_HEAD
    mdc_procread *h;
    PyObject *pids;   /* list of int; NULL until gathered when the threads list proc */
    PyObject *result; /* list, once waited for */
    Py_ssize_t nnames;
    int kb_file;
    int waiting; /* a wait() is running (the GIL released) */
} Reader;

/* Tokens as bytes.split() sees them. */
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

typedef struct {
    const char *p;
    Py_ssize_t n;
} tok;

#define MAX_KB_KEYS 64

/* The kB lines of a header + "Key: N kB" file: NULL (no exception) when the text is not exactly that. */
static PyObject *parse_kb(const char *data, Py_ssize_t len, PyObject **last_keys) {
    const char *nl = memchr(data, '\n', (size_t)len);
    if (!nl || nl == data) return NULL;
    /* the header line starts with an address range, as procfs._is_header checks: a hex digit first,
     * and a '-' in its first word */
    const char *sp = memchr(data, ' ', (size_t)(nl - data)), *word_end = sp ? sp : nl;
    if (!((data[0] >= '0' && data[0] <= '9') || (data[0] >= 'a' && data[0] <= 'f')) ||
        !memchr(data, '-', (size_t)(word_end - data)))
        return NULL;
    const char *c = nl + 1, *end = data + len;
    tok keys[MAX_KB_KEYS];
    long long vals[MAX_KB_KEYS];
    int n = 0;
    for (;;) {
        tok t[3];
        int k;
        for (k = 0; k < 3; k++) {
            while (c < end && is_space(*c)) c++;
            if (c == end) break;
            t[k].p = c;
            while (c < end && !is_space(*c)) c++;
            t[k].n = c - t[k].p;
        }
        if (k == 0) break;                       /* end of the file */
        if (k < 3 || n == MAX_KB_KEYS) return NULL; /* a truncated line, or more keys than any kernel prints */
        if (t[0].p[t[0].n - 1] != ':' || t[2].n != 2 || memcmp(t[2].p, "kB", 2) != 0 || t[1].n > 15) return NULL;
        long long v = 0;
        for (Py_ssize_t i = 0; i < t[1].n; i++) {
            char d = t[1].p[i];
            if (d < '0' || d > '9') return NULL;
            v = v * 10 + (d - '0');
        }
        keys[n] = t[0];
        vals[n] = v;
        n++;
    }
    if (n == 0) return NULL;

    PyObject *kt = *last_keys; /* the previous process's keys, when this one printed the same */
    if (kt && PyTuple_GET_SIZE(kt) == n) {
        for (int i = 0; i < n; i++) {
            PyObject *b = PyTuple_GET_ITEM(kt, i);
            if (PyBytes_GET_SIZE(b) != keys[i].n || memcmp(PyBytes_AS_STRING(b), keys[i].p, (size_t)keys[i].n)) {
                kt = NULL;
                break;
            }
        }
    } else {
        kt = NULL;
    }
    if (kt) {
        Py_INCREF(kt);
    } else {
        kt = PyTuple_New(n);
        if (!kt) return NULL;
        for (int i = 0; i < n; i++) {
            PyObject *b = PyBytes_FromStringAndSize(keys[i].p, keys[i].n);
            if (!b) {
                Py_DECREF(kt);
                return NULL;
            }
            PyTuple_SET_ITEM(kt, i, b);
        }
        Py_XDECREF(*last_keys);
        Py_INCREF(kt);
        *last_keys = kt;
    }
    PyObject *vt = PyTuple_New(n + 1);
    if (!vt) {
        Py_DECREF(kt);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLongLong(vals[i] * 1024);
        if (!v) {
            Py_DECREF(kt);
            Py_DECREF(vt);
            return NULL;
        }
        PyTuple_SET_ITEM(vt, i, v);
    }
    Py_INCREF(Py_None);
    PyTuple_SET_ITEM(vt, n, Py_None);
    PyObject *pair = PyTuple_Pack(2, kt, vt);
    Py_DECREF(kt);
    Py_DECREF(vt);
    return pair;
}

static PyObject *gather(Reader *r) {
    mdc_procread *h = r->h;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mdc_procread_wait(h);
    Py_END_ALLOW_THREADS
    if (rc) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!r->pids) {
        int np;
        const int32_t *pp = mdc_procread_pids(h, &np);
        PyObject *l = PyList_New(np);
        if (!l) return NULL;
        for (int i = 0; i < np; i++) {
            PyObject *v = PyLong_FromLong(pp[i]);
            if (!v) {
                Py_DECREF(l);
                return NULL;
            }
            PyList_SET_ITEM(l, i, v);
        }
        r->pids = l;
    }
    int64_t dlen;
    const char *data = mdc_procread_data(h, &dlen);
    const int32_t *errs = mdc_procread_errs(h);
    const uint32_t *uids = mdc_procread_uids(h);
    const int64_t *offs = mdc_procread_offs(h), *lens = mdc_procread_lens(h);
    Py_ssize_t n = PyList_GET_SIZE(r->pids), k = r->nnames;
    PyObject *out = PyList_New(n), *last_keys = NULL;
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *files = PyList_New(k);
        if (!files) goto fail;
        for (Py_ssize_t j = 0; j < k; j++) {
            Py_ssize_t s = i * k + j;
            PyObject *item = NULL;
            if (errs[s] < 0) {           /* not read: on_esrch for a process that had no ESRCH */
                item = Py_None;
                Py_INCREF(item);
            } else if (errs[s]) {
                item = PyLong_FromLong(errs[s]);
            } else {
                if (j == r->kb_file) {
                    item = parse_kb(data + offs[s], (Py_ssize_t)lens[s], &last_keys);
                    if (!item && PyErr_Occurred()) {
                        Py_DECREF(files);
                        goto fail;
                    }
                }
                if (!item) item = PyBytes_FromStringAndSize(data + offs[s], (Py_ssize_t)lens[s]);
            }
            if (!item) {
                Py_DECREF(files);
                goto fail;
            }
            PyList_SET_ITEM(files, j, item);
        }
        PyObject *pid = PyList_GET_ITEM(r->pids, i);
        PyObject *row = Py_BuildValue("(OkN)", pid, (unsigned long)uids[i], files);
        if (!row) goto fail;
        PyList_SET_ITEM(out, i, row);
    }
    Py_XDECREF(last_keys);
    return out;
fail:
    Py_XDECREF(last_keys);
    Py_DECREF(out);
    return NULL;
}

static PyObject *Reader_wait(Reader *r, PyObject *unused) {
    if (!r->result) {
        if (r->waiting) {
            PyErr_SetString(PyExc_RuntimeError, "wait() is already running in another thread");
            return NULL;
        }
        if (!r->h) {
            PyErr_SetString(PyExc_RuntimeError, "reader already failed");
            return NULL;
        }
        r->waiting = 1;
        r->result = gather(r);
        r->waiting = 0;
        mdc_procread_free(r->h);
        r->h = NULL;
        if (!r->result) return NULL;
    }
    Py_INCREF(r->result);
    return r->result;
}

static void Reader_dealloc(Reader *r) {
    if (r->h) { /* never waited for: join the threads and free */
        Py_BEGIN_ALLOW_THREADS
        mdc_procread_free(r->h);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(r->pids);
    Py_XDECREF(r->result);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Reader_get_pids(Reader *r, void *unused) {
    PyObject *p = r->pids ? r->pids : Py_None;
    Py_INCREF(p);
    return p;
}

static PyMethodDef Reader_methods[] = {
    {"wait", (PyCFunction)Reader_wait, METH_NOARGS,
     "wait() -> [(pid, uid, [bytes | errno | (keys, values) per name])]; the same list on every call."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reader_getset[] = {
    {"pids", (getter)Reader_get_pids, NULL, "the PIDs being read, in order (None until wait() when listed by the threads)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memdive.native._procread.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "/proc files of many processes being read on background threads.",
    .tp_methods = Reader_methods,
    .tp_getset = Reader_getset,
};

static PyObject *pr_start(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"proc", "names", "pids", "threads", "kb_file", "on_esrch", NULL};
    PyObject *proc_o = NULL, *names, *pids_o = Py_None, *esrch_o = Py_None;
    int threads = 1, kb_file = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O!|OiiO:start", kwlist, PyUnicode_FSConverter, &proc_o,
                                     &PyTuple_Type, &names, &pids_o, &threads, &kb_file, &esrch_o))
        return NULL;
    const char *proc = PyBytes_AS_STRING(proc_o);
    Py_ssize_t given = PyTuple_GET_SIZE(names), nn = given + (esrch_o != Py_None);
    char packed[512];
    size_t pos = 0;
    int32_t *pids = NULL;
    Reader *r = NULL;
    if (given < 1 || nn > 8) {
        PyErr_SetString(PyExc_ValueError, "between 1 and 8 names");
        goto fail;
    }
    for (Py_ssize_t j = 0; j < nn; j++) {
        Py_ssize_t l;
        PyObject *o = j < given ? PyTuple_GET_ITEM(names, j) : esrch_o;
        const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8AndSize(o, &l) : NULL;
        if (!s) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "names must be str");
            goto fail;
        }
        if (pos + (size_t)l + 1 > sizeof packed || strchr(s, '/') || (Py_ssize_t)strlen(s) != l) {
            PyErr_Format(PyExc_ValueError, "bad file name %R", o);
            goto fail;
        }
        memcpy(packed + pos, s, (size_t)l + 1);
        pos += (size_t)l + 1;
    }
    int npids = 0;
    if (pids_o != Py_None) {
        PyObject *seq = PySequence_Fast(pids_o, "pids must be a sequence of int");
        if (!seq) goto fail;
        Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
        pids = m <= INT32_MAX ? malloc(((size_t)m + 1) * sizeof *pids) : NULL;
        if (!pids) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < m; i++) {
            long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
            if (v == -1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                goto fail;
            }
            if (v <= 0 || v > INT32_MAX) {
                Py_DECREF(seq);
                PyErr_Format(PyExc_ValueError, "not a PID: %ld", v);
                goto fail;
            }
            pids[i] = (int32_t)v;
        }
        Py_DECREF(seq);
        npids = (int)m;
    }
    r = PyObject_New(Reader, &ReaderType);
    if (!r) goto fail;
    r->h = NULL;
    r->pids = NULL;
    r->result = NULL;
    r->nnames = nn;
    r->kb_file = kb_file;
    r->waiting = 0;
    if (pids) {
        r->pids = PyList_New(npids);
        if (!r->pids) goto fail;
        for (int i = 0; i < npids; i++) {
            PyObject *v = PyLong_FromLong(pids[i]);
            if (!v) goto fail;
            PyList_SET_ITEM(r->pids, i, v);
        }
    }
    r->h = mdc_procread_start(proc, pids, npids, packed, (int)nn, threads, esrch_o != Py_None);
    if (!r->h) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    free(pids);
    Py_DECREF(proc_o);
    return (PyObject *)r;
fail:
    free(pids);
    Py_XDECREF(r);
    Py_XDECREF(proc_o);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"start", (PyCFunction)(void (*)(void))pr_start, METH_VARARGS | METH_KEYWORDS,
     "start(proc, names, pids=None, threads=1, kb_file=-1, on_esrch=None) -> Reader: begin reading proc/PID/NAME\n"
     "for every PID (every PID directory of proc when pids is None) and every name; on_esrch: a name read\n"
     "only where the first file failed with ESRCH (its item comes last; None for the others)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_procread", "The C core's parallel /proc reader (see procreadmodule.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__procread(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    return PyModule_Create(&module);
}
