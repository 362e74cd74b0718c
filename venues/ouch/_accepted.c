/* venues.ouch._accepted: the fixed fields of a 64-byte OUCH 5.0 Order Accepted in one call (venues/ouch/codec.py).
 *
 * Built by build_native.py next to the mypyc modules; the codec uses it only with them (the pure-Python
 * modules keep `_ACCEPTED_CORE.unpack_from`). Compiled, `struct.Struct.unpack_from` is a generic method call
 * (a method lookup, its argument parsing, a tuple of seven items, two of them 1-byte bytes the codec then looks
 * up in two dicts): about 1,900 instructions per Accepted. Here the seven fields are read in place and the two
 * one-byte codes come back as ints, which the codec checks against its tables by index.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* The layout of `codec._ACCEPTED_CORE` (">9xIcI8xQ2xQ3xc14xH"): offsets in the message (type byte at 0). */
#define ACCEPTED_SIZE 64
#define AT_URN 9
#define AT_SIDE 13
#define AT_QTY 14
#define AT_PRICE 26
#define AT_ORN 36
#define AT_STATE 47
#define AT_APPENDAGE_LENGTH 62

static inline uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t
be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | (uint64_t)be32(p + 4);
}

PyDoc_STRVAR(core_doc,
"core(buf)\n--\n\n"
"Return (UserRefNum, side, quantity, price, Order Reference Number, order state, appendage length) of a\n"
"64-byte Order Accepted, the side and the state as their byte's int: `codec._ACCEPTED_CORE.unpack_from(buf)`\n"
"with the two `c` fields as ints. None when `buf` is not 64 bytes long.");

static PyObject *
core(PyObject *module, PyObject *buf_obj)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(buf_obj, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len != ACCEPTED_SIZE) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    const unsigned char *p = (const unsigned char *)view.buf;
    uint32_t urn = be32(p + AT_URN), qty = be32(p + AT_QTY);
    uint64_t price = be64(p + AT_PRICE), orn = be64(p + AT_ORN);
    long side = p[AT_SIDE], state = p[AT_STATE];
    long appendage_length = (long)p[AT_APPENDAGE_LENGTH] << 8 | (long)p[AT_APPENDAGE_LENGTH + 1];
    PyBuffer_Release(&view);
    PyObject *out = PyTuple_New(7);
    if (out == NULL) {
        return NULL;
    }
    PyObject *items[7] = {
        PyLong_FromUnsignedLong(urn),
        PyLong_FromLong(side),
        PyLong_FromUnsignedLong(qty),
        PyLong_FromUnsignedLongLong(price),
        PyLong_FromUnsignedLongLong(orn),
        PyLong_FromLong(state),
        PyLong_FromLong(appendage_length),
    };
    for (int i = 0; i < 7; i++) {
        if (items[i] == NULL) {
            for (int j = 0; j < 7; j++) {
                Py_XDECREF(items[j]);
            }
            Py_DECREF(out);
            return NULL;
        }
    }
    for (int i = 0; i < 7; i++) {
        PyTuple_SET_ITEM(out, i, items[i]);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"core", (PyCFunction)core, METH_O, core_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "venues.ouch._accepted",
    "The fixed fields of a 64-byte Order Accepted in one call (see venues/ouch/codec.py).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__accepted(void)
{
    return PyModuleDef_Init(&module_def);
}
