/* gateway._stagecount: the stage histograms' byte increments in one call (gateway/latency.py).
 *
 * Built by build_native.py next to the mypyc modules; gateway/latency.py uses it only with them (the
 * pure-Python modules keep their own inline increments). mypyc has no native bytearray item access: each
 * `counts[bucket] += 1` there is a generic get and a generic set. Here one call does every increment of
 * a batch, with the same carries as gateway.latency.carry: a low byte past 255 carries its 256s into the
 * bucket's `mid` byte (flat index base + bucket), a `mid` byte past 255 its 65,536s into `carried`.
 * `count` takes buckets found by the caller; `count_orders` finds a batch's buckets itself from the orders'
 * marks (obs.histogram's layout: SUB_BITS, RANGE_BITS, the table's TABLE_SHIFT and TABLE_LIMIT below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if LONG_MAX < LLONG_MAX
#error "gateway._stagecount reads marks with PyLong_AsLong: it needs a 64-bit long (LP64)"
#endif

/* obs.histogram's layout (gateway/latency.py checks these against it at import). */
#define SUB_BITS 7
#define RANGE_BITS 36
#define LINEAR (2LL << SUB_BITS)
#define BUCKETS ((Py_ssize_t)(((RANGE_BITS - SUB_BITS - 1) << SUB_BITS) + LINEAR))
#define MAX_VALUE ((1LL << RANGE_BITS) - 1)
#define TABLE_LIMIT (1LL << 20)

/* Return an int object's value (a bucket, a weight: small ints), -1 with an exception set if it is none. */
static inline Py_ssize_t
as_index(PyObject *op)
{
#if PY_VERSION_HEX < 0x030C0000 /* 3.11's int layout: the size is the digit count; buckets have one digit at most */
    if (PyLong_CheckExact(op)) {
        Py_ssize_t size = Py_SIZE(op);
        if (size == 0) {
            return 0;
        }
        if (size == 1) {
            return (Py_ssize_t)((PyLongObject *)op)->ob_digit[0];
        }
    }
#endif
    return PyLong_AsSsize_t(op);
}

/* Return the writable bytes of a stage's low bytes or of `mid`: a bytearray, or a memoryview of the stats mapping
 * (gateway/stats_map.py); NULL if neither. `*size` gets their length. */
static inline unsigned char *
bytes_of(PyObject *op, Py_ssize_t *size)
{
    if (PyMemoryView_Check(op)) {
        Py_buffer *view = PyMemoryView_GET_BUFFER(op);
        if (view->readonly || ((PyMemoryViewObject *)op)->flags & _Py_MEMORYVIEW_RELEASED) {
            return NULL;
        }
        *size = view->len;
        return (unsigned char *)view->buf;
    }
    if (PyByteArray_CheckExact(op)) {
        *size = PyByteArray_GET_SIZE(op);
        return (unsigned char *)PyByteArray_AS_STRING(op);
    }
    return NULL;
}

/* The stats mapping's header (gateway/stats_map.py): its magic, then `seq` and `wraps` as uint64 at 32 and 40. */
#define MAP_MAGIC "GWSTATS"
#define MAP_HEADER 64

/* Return the `seq` word of the mapping `mid` is a view of (its exporter's buffer starts with the header), or NULL
 * for a bytearray (nobody else reads it). `wraps` is the next word. */
static uint64_t *
control_of(PyObject *mid)
{
    if (!PyMemoryView_Check(mid)) {
        return NULL;
    }
    Py_buffer *master = &((PyMemoryViewObject *)mid)->mbuf->master;
    if (master->buf == NULL || master->len < MAP_HEADER || memcmp(master->buf, MAP_MAGIC, sizeof MAP_MAGIC) != 0) {
        return NULL;
    }
    return (uint64_t *)((char *)master->buf + 32);
}

/* Add `times` to the `mid` byte at `index`, the 256s past it into carried[index] as 65,536s each (counted in
 * `wraps` when there is one). */
static int
carry(unsigned char *mid, PyObject *carried, Py_ssize_t index, size_t times, uint64_t *control)
{
    size_t value = (size_t)mid[index] + times;
    if (value > 255) {
        PyObject *key = PyLong_FromSsize_t(index);
        if (key == NULL) {
            return -1;
        }
        PyObject *old = PyDict_GetItemWithError(carried, key); /* borrowed */
        long long before = 0;
        if (old != NULL) {
            before = PyLong_AsLongLong(old);
        }
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
        PyObject *sum = PyLong_FromLongLong(before + (long long)((value >> 8) << 16));
        int failed = sum == NULL || PyDict_SetItem(carried, key, sum) < 0;
        Py_XDECREF(sum);
        Py_DECREF(key);
        if (failed) {
            return -1;
        }
        if (control != NULL) {
            __atomic_store_n(control + 1, control[1] + 1, __ATOMIC_RELAXED);
        }
        value &= 255;
    }
    mid[index] = (unsigned char)value;
    return 0;
}

/* Write `value` (past 255) into the low byte `byte` of bucket `bucket` of the k-th stage of `stages`: its 256s into
 * `mid`, the rest into the byte. Written between two writes of the mapping's `seq` (odd, then even): a reader of the
 * mapping copies again rather than see a low byte and its `mid` byte half carried. Out of line: `bump`'s common case
 * stays a few instructions inlined into its caller. */
static int __attribute__((noinline))
bump_carry(PyObject *stages, Py_ssize_t k, unsigned char *byte, PyObject *mid, PyObject *carried, Py_ssize_t bucket,
           size_t value)
{
    Py_ssize_t base = PyLong_AsSsize_t(PyTuple_GET_ITEM(stages, 2 * k + 1));
    if (base == -1 && PyErr_Occurred()) {
        return -1;
    }
    Py_ssize_t mid_size = 0;
    unsigned char *mid_bytes = bytes_of(mid, &mid_size);
    if (mid_bytes == NULL) {
        PyErr_SetString(PyExc_TypeError, "count: mid must be a bytearray or a writable memoryview");
        return -1;
    }
    if (base < 0 || base > mid_size - bucket - 1) {
        PyErr_SetString(PyExc_IndexError, "count: flat index out of mid's range");
        return -1;
    }
    uint64_t *control = control_of(mid);
    uint64_t seq = 0;
    if (control != NULL) {
        seq = control[0];
        __atomic_store_n(control, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
    }
    int failed = carry(mid_bytes, carried, base + bucket, value >> 8, control);
    if (!failed) {
        *byte = (unsigned char)(value & 255);
    }
    if (control != NULL) {
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(control, seq + 2, __ATOMIC_RELAXED);
    }
    return failed ? -1 : 0;
}

/* Add `times` to bucket `bucket` (in range) of the k-th stage of `stages`, whose low bytes are `low`, carrying. */
static inline int
bump(PyObject *stages, Py_ssize_t k, unsigned char *low, PyObject *mid, PyObject *carried, Py_ssize_t bucket,
     size_t times)
{
    unsigned char *byte = low + bucket;
    size_t value = (size_t)*byte + times;
    if (value <= 255) { /* the common case */
        *byte = (unsigned char)value;
        return 0;
    }
    return bump_carry(stages, k, byte, mid, carried, bucket, value);
}

PyDoc_STRVAR(count_doc,
"count(stages, mid, carried, times, *buckets)\n--\n\n"
"Add times to bucket buckets[k] of the k-th stage of stages, carrying as gateway.latency.carry does.\n\n"
"stages is a tuple (low, base, low, base, ...): each stage's low bytes (a bytearray, one per bucket)\n"
"and its offset in the flat layout of mid (a bytearray, the 256s) and carried (a dict, the 65,536s).");

static PyObject *
count(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs < 4) {
        PyErr_SetString(PyExc_TypeError, "count(stages, mid, carried, times, *buckets)");
        return NULL;
    }
    PyObject *stages = args[0], *mid = args[1], *carried = args[2];
    Py_ssize_t n = nargs - 4;
    if (!PyTuple_CheckExact(stages) || !PyDict_CheckExact(carried)) {
        PyErr_SetString(PyExc_TypeError, "count: stages must be a tuple, carried a dict");
        return NULL;
    }
    if (PyTuple_GET_SIZE(stages) < 2 * n) {
        PyErr_SetString(PyExc_ValueError, "count: more buckets than stages");
        return NULL;
    }
    Py_ssize_t times = as_index(args[3]);
    if (times < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "count: times must not be negative");
        }
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t size = 0;
        unsigned char *low = bytes_of(PyTuple_GET_ITEM(stages, 2 * k), &size);
        if (low == NULL) {
            PyErr_SetString(PyExc_TypeError, "count: a stage's low bytes must be a bytearray or a writable memoryview");
            return NULL;
        }
        Py_ssize_t bucket = as_index(args[4 + k]);
        if (bucket == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (bucket < 0 || bucket >= size) {
            PyErr_SetString(PyExc_IndexError, "count: bucket out of range");
            return NULL;
        }
        if (bump(stages, k, low, mid, carried, bucket, (size_t)times) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* Return obs.histogram.bucket_index(value) for a value that is not negative. */
static inline Py_ssize_t
bucket_of(unsigned long long value)
{
    if (value < (unsigned long long)LINEAR) {
        return (Py_ssize_t)value;
    }
    if (value > (unsigned long long)MAX_VALUE) {
        return BUCKETS - 1;
    }
    int shift = (64 - __builtin_clzll(value)) - SUB_BITS - 1;
    return ((Py_ssize_t)shift << SUB_BITS) + (Py_ssize_t)(value >> shift);
}

/* Return bucket_index(later - earlier) (a negative difference clamps to bucket 0; no overflow). */
static inline Py_ssize_t
bucket_between(long long earlier, long long later)
{
    if (later <= earlier) {
        return 0;
    }
    return bucket_of((unsigned long long)later - (unsigned long long)earlier);
}

/* Return the hot path's table lookup (index_table()[d >> TABLE_SHIFT], the bucket of d | 7) for d < TABLE_LIMIT,
 * else bucket_index(d): what OrderStages.wire writes as `buckets[d >> 3] if 0 <= d < _LIMIT else bucket_index(d)`. */
static inline Py_ssize_t
table_or_bucket(long long earlier, long long later)
{
    if (later >= earlier && (unsigned long long)later - (unsigned long long)earlier < (unsigned long long)TABLE_LIMIT) {
        return bucket_of(((unsigned long long)later - (unsigned long long)earlier) | 7);
    }
    return bucket_between(earlier, later);
}

/* Return an int's value as a long long, -1 with an exception set if it is none or too large.
 * PyLong_AsLong, not PyLong_AsLongLong: on 3.11 the latter converts an int of two digits or more (every
 * monotonic_ns mark) through _PyLong_AsByteArray, about 240 instructions; the former reads the digits. */
static inline long long
as_mark(PyObject *op)
{
    if (!PyLong_Check(op)) {
        PyErr_SetString(PyExc_TypeError, "count_orders: a mark must be an int");
        return -1;
    }
    return PyLong_AsLong(op);
}

PyDoc_STRVAR(count_orders_doc,
"count_orders(stages, mid, carried, t_wire, marks, t_in, t_decoded, t_checked, t_risk, t_encoded)\n--\n\n"
"Count a batch of orders written at t_wire in the eight order stages, as gateway.latency.OrderStages.wire does.\n\n"
"stages is the eight stages' (low, base, ...) tuple in the order decode, ingress_to_wire, order_checks,\n"
"risk, encode, risk_to_wire, encode_to_wire, ingress_to_risk; the first order's marks are the five last\n"
"arguments, the others' (one at least: a batch of two or more) five each in the list marks, emptied once counted.");

static PyObject *
count_orders(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "count_orders(stages, mid, carried, t_wire, marks, t_in, t_decoded, t_checked, t_risk, t_encoded)");
        return NULL;
    }
    PyObject *stages = args[0], *mid = args[1], *carried = args[2], *marks = args[4];
    if (!PyTuple_CheckExact(stages) || PyTuple_GET_SIZE(stages) != 16 || !PyDict_CheckExact(carried) ||
        !PyList_CheckExact(marks)) {
        PyErr_SetString(PyExc_TypeError,
                        "count_orders: stages must be a tuple of eight (low, base), carried a dict, marks a list");
        return NULL;
    }
    unsigned char *lows[8];
    for (Py_ssize_t k = 0; k < 8; k++) {
        Py_ssize_t low_size = 0;
        lows[k] = bytes_of(PyTuple_GET_ITEM(stages, 2 * k), &low_size);
        if (lows[k] == NULL || low_size < BUCKETS) {
            PyErr_SetString(PyExc_TypeError, "count_orders: a stage's low bytes must be a writable buffer of every bucket");
            return NULL;
        }
    }
    Py_ssize_t size = PyList_GET_SIZE(marks);
    if (size % 5 || size == 0) {
        PyErr_SetString(PyExc_ValueError, "count_orders: marks must hold five per order, one order at least");
        return NULL;
    }
    long long first[5];
    long long t_wire = as_mark(args[3]);
    if (t_wire == -1 && PyErr_Occurred()) {
        return NULL;
    }
    for (int j = 0; j < 5; j++) {
        first[j] = as_mark(args[5 + j]);
        if (first[j] == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    size_t orders = 1 + (size_t)(size / 5);
    /* decode and ingress_to_wire: once with the batch's weight when its orders share one read (marks only grow:
     * the first and the last order have the same t_in and t_decoded), else per order */
    long long last_in = as_mark(PyList_GET_ITEM(marks, size - 5));
    if (last_in == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long last_decoded = as_mark(PyList_GET_ITEM(marks, size - 4));
    if (last_decoded == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int shared = first[0] == last_in && first[1] == last_decoded;
    if (shared &&
        (bump(stages, 0, lows[0], mid, carried, table_or_bucket(first[0], first[1]), orders) < 0 ||
         bump(stages, 1, lows[1], mid, carried, table_or_bucket(first[0], t_wire), orders) < 0)) {
        return NULL;
    }
    long long m[5];
    for (Py_ssize_t i = -5; i < size; i += 5) {
        if (i < 0) {
            memcpy(m, first, sizeof m);
        }
        else {
            for (int j = 0; j < 5; j++) {
                m[j] = as_mark(PyList_GET_ITEM(marks, i + j));
                if (m[j] == -1 && PyErr_Occurred()) {
                    return NULL;
                }
            }
        }
        long long t_in = m[0], t_decoded = m[1], t_checked = m[2], t_risk = m[3], t_encoded = m[4];
        if (!shared && (bump(stages, 0, lows[0], mid, carried, bucket_between(t_in, t_decoded), 1) < 0 ||
                        bump(stages, 1, lows[1], mid, carried, bucket_between(t_in, t_wire), 1) < 0)) {
            return NULL;
        }
        Py_ssize_t b[6];
        if (t_in <= t_decoded && t_decoded <= t_checked && t_checked <= t_risk && t_risk <= t_encoded &&
            t_encoded <= t_wire &&
            (unsigned long long)t_wire - (unsigned long long)t_decoded < (unsigned long long)TABLE_LIMIT) {
            /* every stage but ingress_to_risk is at most t_wire - t_decoded: within the table */
            b[0] = table_or_bucket(t_decoded, t_checked);
            b[1] = table_or_bucket(t_checked, t_risk);
            b[2] = table_or_bucket(t_risk, t_encoded);
            b[3] = table_or_bucket(t_risk, t_wire);
            b[4] = table_or_bucket(t_encoded, t_wire);
            b[5] = table_or_bucket(t_in, t_risk);
        }
        else { /* a stage of a millisecond or more, or marks out of order (the arithmetic clamps) */
            b[0] = bucket_between(t_decoded, t_checked);
            b[1] = bucket_between(t_checked, t_risk);
            b[2] = bucket_between(t_risk, t_encoded);
            b[3] = bucket_between(t_risk, t_wire);
            b[4] = bucket_between(t_encoded, t_wire);
            b[5] = bucket_between(t_in, t_risk);
        }
        for (int j = 0; j < 6; j++) {
            if (bump(stages, 2 + j, lows[2 + j], mid, carried, b[j], 1) < 0) {
                return NULL;
            }
        }
    }
    if (PyList_SetSlice(marks, 0, size, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(bucket_doc, "bucket(value)\n--\n\nReturn obs.histogram.bucket_index(value) (value an int64), as count_orders finds it.");

static PyObject *
bucket(PyObject *module, PyObject *value)
{
    (void)module;
    long long v = PyLong_AsLongLong(value);
    if (v == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromSsize_t(bucket_between(0, v));
}

static PyMethodDef methods[] = {
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL, count_doc},
    {"count_orders", (PyCFunction)(void (*)(void))count_orders, METH_FASTCALL, count_orders_doc},
    {"bucket", bucket, METH_O, bucket_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "gateway._stagecount",
    "The stage histograms' byte increments in one call (see gateway/latency.py).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__stagecount(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "SUB_BITS", SUB_BITS) < 0 ||
        PyModule_AddIntConstant(module, "RANGE_BITS", RANGE_BITS) < 0 ||
        PyModule_AddIntConstant(module, "TABLE_LIMIT", (long)TABLE_LIMIT) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
