/* gateway._stagecount: the stage histograms' byte increments in one call (gateway/latency.py).
 *
 * Built by build_native.py next to the mypyc modules; gateway/latency.py uses it only with them (the
 * pure-Python modules keep their own inline increments). mypyc has no native bytearray item access: each
 * `counts[bucket] += 1` there is a generic get and a generic set. Here one call does every increment of
 * a batch, with the same carries as gateway.latency.carry: a low byte past 255 carries its 256s into the
 * bucket's `mid` byte (flat index base + bucket), a `mid` byte past 255 its 65,536s into `carried`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

/* Add `times` to the `mid` byte at `index`, the 256s past it into carried[index] as 65,536s each. */
static int
carry(unsigned char *mid, PyObject *carried, Py_ssize_t index, size_t times)
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
        value &= 255;
    }
    mid[index] = (unsigned char)value;
    return 0;
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
    if (!PyTuple_CheckExact(stages) || !PyByteArray_CheckExact(mid) || !PyDict_CheckExact(carried)) {
        PyErr_SetString(PyExc_TypeError, "count: stages must be a tuple, mid a bytearray, carried a dict");
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
        PyObject *low = PyTuple_GET_ITEM(stages, 2 * k);
        if (!PyByteArray_CheckExact(low)) {
            PyErr_SetString(PyExc_TypeError, "count: a stage's low bytes must be a bytearray");
            return NULL;
        }
        Py_ssize_t bucket = as_index(args[4 + k]);
        if (bucket == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (bucket < 0 || bucket >= PyByteArray_GET_SIZE(low)) {
            PyErr_SetString(PyExc_IndexError, "count: bucket out of range");
            return NULL;
        }
        unsigned char *byte = (unsigned char *)PyByteArray_AS_STRING(low) + bucket;
        size_t value = (size_t)*byte + (size_t)times;
        if (value <= 255) { /* the common case */
            *byte = (unsigned char)value;
            continue;
        }
        Py_ssize_t base = PyLong_AsSsize_t(PyTuple_GET_ITEM(stages, 2 * k + 1));
        if (base == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (base < 0 || base > PyByteArray_GET_SIZE(mid) - bucket - 1) {
            PyErr_SetString(PyExc_IndexError, "count: flat index out of mid's range");
            return NULL;
        }
        if (carry((unsigned char *)PyByteArray_AS_STRING(mid), carried, base + bucket, value >> 8) < 0) {
            return NULL;
        }
        *byte = (unsigned char)(value & 255);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL, count_doc},
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
    return PyModuleDef_Init(&module_def);
}
