/* venues.ouch._compare: one compare of two byte ranges without slicing either (venues/ouch/adapter.py).
 *
 * Built by build_native.py next to the mypyc modules; the adapter uses it only with them (the pure-Python
 * modules keep their slices). Compiled, `sent[8:29] != message[13:34]` makes a slice object and a new
 * bytearray or memoryview per side and a generic rich compare; here one call reads both buffers in place.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Return how many bytes a[start:start + n] has (Python's slice rules; start and n not negative). */
static inline Py_ssize_t
span(Py_ssize_t size, Py_ssize_t start, Py_ssize_t n)
{
    if (start >= size) {
        return 0;
    }
    return size - start < n ? size - start : n;
}

PyDoc_STRVAR(same_doc,
"same(a, a_start, b, b_start, n)\n--\n\n"
"Return a[a_start:a_start + n] == b[b_start:b_start + n] for two buffers (bytes, bytearray, memoryview\n"
"of bytes), without making either slice; the starts and n must not be negative.");

static PyObject *
same(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "same(a, a_start, b, b_start, n)");
        return NULL;
    }
    Py_ssize_t a_start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t b_start = PyLong_AsSsize_t(args[3]);
    Py_ssize_t n = PyLong_AsSsize_t(args[4]);
    if ((a_start == -1 || b_start == -1 || n == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (a_start < 0 || b_start < 0 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "same: the starts and n must not be negative");
        return NULL;
    }
    Py_buffer a, b;
    if (PyObject_GetBuffer(args[0], &a, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &b, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&a);
        return NULL;
    }
    Py_ssize_t a_len = span(a.len, a_start, n), b_len = span(b.len, b_start, n);
    int equal = a_len == b_len && memcmp((const char *)a.buf + (a_len ? a_start : 0),
                                         (const char *)b.buf + (b_len ? b_start : 0), (size_t)a_len) == 0;
    PyBuffer_Release(&b);
    PyBuffer_Release(&a);
    return PyBool_FromLong(equal);
}

static PyMethodDef methods[] = {
    {"same", (PyCFunction)(void (*)(void))same, METH_FASTCALL, same_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "venues.ouch._compare",
    "One compare of two byte ranges without slicing either (see venues/ouch/adapter.py).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__compare(void)
{
    return PyModuleDef_Init(&module_def);
}
