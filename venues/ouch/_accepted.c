/* venues.ouch._accepted: codec.accepted_core's read of a 64-byte OUCH 5.0 Order Accepted in one call.
 *
 * Built by build_native.py next to the mypyc modules; the codec uses it only with them (the pure-Python
 * modules keep `_ACCEPTED_CORE.unpack_from` and the two dicts). Compiled, `struct.Struct.unpack_from` is a
 * generic method call (a method lookup, its argument parsing, a tuple of seven items, two of them 1-byte bytes
 * then looked up in two dicts) and the five fields are unboxed and boxed again for the codec's tuple: about
 * 2,300 instructions per Accepted. Here the checks are made in place and the codec's tuple is made once.
 * The side and state bytes accepted are messages.SIDES and messages.ORDER_STATES (tests/ouch/
 * test_accepted_native.py checks every byte value of both against the codec's dicts).
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
"Return (UserRefNum, quantity, price, Order Reference Number, order state) of a 64-byte Order Accepted\n"
"without an appendage whose side is one of B S T E and order state one of L D (messages.SIDES,\n"
"messages.ORDER_STATES): what codec.accepted_core returns for it. None for anything else (another length,\n"
"an appendage, another side or state byte), which the codec's full decoder then decides on.");

static PyObject *
core(PyObject *module, PyObject *buf_obj)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(buf_obj, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)view.buf;
    if (view.len != ACCEPTED_SIZE || p[AT_APPENDAGE_LENGTH] || p[AT_APPENDAGE_LENGTH + 1]) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    unsigned char side = p[AT_SIDE], state = p[AT_STATE];
    uint32_t urn = be32(p + AT_URN), qty = be32(p + AT_QTY);
    uint64_t price = be64(p + AT_PRICE), orn = be64(p + AT_ORN);
    PyBuffer_Release(&view);
    if (!(side == 'B' || side == 'S' || side == 'T' || side == 'E') || !(state == 'L' || state == 'D')) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New(5);
    if (out == NULL) {
        return NULL;
    }
    PyObject *items[5] = {
        PyLong_FromUnsignedLong(urn),
        PyLong_FromUnsignedLong(qty),
        PyLong_FromUnsignedLongLong(price),
        PyLong_FromUnsignedLongLong(orn),
        PyUnicode_FromOrdinal(state), /* a one-character str: CPython's cached latin-1 one */
    };
    for (int i = 0; i < 5; i++) {
        if (items[i] == NULL) {
            for (int j = 0; j < 5; j++) {
                Py_XDECREF(items[j]);
            }
            Py_DECREF(out);
            return NULL;
        }
    }
    for (int i = 0; i < 5; i++) {
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
    "codec.accepted_core's read of a 64-byte Order Accepted in one call (see venues/ouch/codec.py).",
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
