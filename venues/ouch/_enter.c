/* venues.ouch._enter: the OUCH 5.0 Enter Order packet written in one C call (venues/ouch/adapter.py).
 *
 * Built by build_native.py next to the mypyc modules; OuchVenue.send_order uses it only with them (the
 * pure-Python modules keep venues.ouch.codec.pack_enter_order). `pack_enter_order` here writes the bytes
 * codec.pack_enter_order writes, with the same arguments: it grows the bytearray by the 50-byte blank
 * (SoupBinTCP header and the Enter Order's fixed part), writes the fields in the order of
 * codec.ENTER_ORDER_PACKET (">HccIcI8sQccccc14sH"), then appends the appendage. Each field is checked as
 * struct.pack_into checks it, just before it is written, so a bad value raises what the pure path raises
 * (struct.error, same text) and leaves the buffer as the pure path leaves it: as it was before the call (the
 * packet begun is dropped whole, fixouch48: before, a zeroed packet was left on the wire). Arguments are
 * positional only (METH_FASTCALL), as the .pyi says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define PACKET 50       /* codec.ENTER_ORDER_PACKET.size: 3-byte SoupBinTCP header + 47-byte Enter Order */
#define LENGTH_BASE 48  /* the SoupBinTCP length of an Enter Order without appendage: type byte + 47 */

static PyObject *struct_error; /* struct.error, looked up at import */

static inline void
put_u16(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static inline void
put_u32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Return v as an int (a new reference), as struct's get_pylong does: an int, or an object with __index__. */
static PyObject *
as_int(PyObject *v)
{
    if (PyLong_Check(v)) {
        Py_INCREF(v);
        return v;
    }
    if (PyIndex_Check(v)) {
        return PyNumber_Index(v);
    }
    PyErr_SetString(struct_error, "required argument is not an integer");
    return NULL;
}

/* Write v as a big-endian 'I' (4 bytes) at p, with struct's checks and texts; return -1 on error. */
static int
put_uint32(unsigned char *p, PyObject *v)
{
    unsigned long x;
    if (PyLong_CheckExact(v)) {
        x = PyLong_AsUnsignedLong(v);
    }
    else {
        PyObject *n = as_int(v);
        if (n == NULL) {
            return -1;
        }
        x = PyLong_AsUnsignedLong(n);
        Py_DECREF(n);
    }
    if (x == (unsigned long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_SetString(struct_error, "argument out of range");
        }
        return -1;
    }
    if (x > 0xFFFFFFFFUL) {
        PyErr_Format(struct_error, "'I' format requires 0 <= number <= %lu", 0xFFFFFFFFUL);
        return -1;
    }
    put_u32(p, x);
    return 0;
}

/* Write v as a big-endian 'Q' (8 bytes) at p, with struct's checks and texts; return -1 on error. */
static int
put_uint64(unsigned char *p, PyObject *v)
{
    PyObject *n = as_int(v);
    if (n == NULL) {
        return -1;
    }
    unsigned long long x = PyLong_AsUnsignedLongLong(n);
    Py_DECREF(n);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        /* struct's text for an int out of range on either side; an __index__ object's OverflowError stays */
        if (PyLong_Check(v) && PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_SetString(struct_error, "int too large to convert");
        }
        return -1;
    }
    put_u32(p, (unsigned long)(x >> 32));
    put_u32(p + 4, (unsigned long)(x & 0xFFFFFFFFULL));
    return 0;
}

/* Write the one byte of v (a bytes of length 1) at p, as struct's 'c'; return -1 on error. */
static inline int
put_char(unsigned char *p, PyObject *v)
{
    if (!PyBytes_Check(v) || PyBytes_GET_SIZE(v) != 1) {
        PyErr_SetString(struct_error, "char format requires a bytes object of length 1");
        return -1;
    }
    *p = (unsigned char)PyBytes_AS_STRING(v)[0];
    return 0;
}

/* Write v (bytes or bytearray) at p as struct's 'Ns': its first `size` bytes, the rest left zero. */
static int
put_string(unsigned char *p, PyObject *v, Py_ssize_t size)
{
    const char *data;
    Py_ssize_t n;
    if (PyBytes_Check(v)) {
        data = PyBytes_AS_STRING(v);
        n = PyBytes_GET_SIZE(v);
    }
    else if (PyByteArray_Check(v)) {
        data = PyByteArray_AS_STRING(v);
        n = PyByteArray_GET_SIZE(v);
    }
    else {
        PyErr_SetString(struct_error, "argument for 's' must be a bytes object");
        return -1;
    }
    if (n > size) {
        n = size;
    }
    if (n > 0) {
        memcpy(p, data, (size_t)n);
    }
    return 0;
}

/* Write the 14-byte ClOrdID of order id v (an int) at p, as venues.ouch.adapter._cl_ord_id: its decimal digits,
 * or "Z" + base 36 when longer than 14, padded with spaces; an id below 0 or above 2**64 - 1 is refused
 * (OverflowError; the gateway's ids count up from 1). Return -1 on error. */
static int
put_order_id(unsigned char *p, PyObject *v)
{
    if (!PyLong_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "the order id must be an int");
        return -1;
    }
    unsigned long long x = PyLong_AsUnsignedLongLong(v);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    char text[24];
    int n = 0;
    if (x < 100000000000000ULL) { /* up to 14 digits */
        char digits[20];
        int k = 0;
        do {
            digits[k++] = (char)('0' + x % 10);
            x /= 10;
        } while (x);
        while (k) {
            text[n++] = digits[--k];
        }
    }
    else {
        static const char base36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        char digits[20];
        int k = 0;
        while (x) {
            digits[k++] = base36[x % 36];
            x /= 36;
        }
        text[n++] = 'Z';
        while (k) {
            text[n++] = digits[--k];
        }
    }
    memset(p, ' ', 14);
    memcpy(p, text, (size_t)n); /* at most 14: "Z" + 13 base-36 digits hold 2**64 - 1 */
    return 0;
}

/* Take buf back to start (the packet begun there is dropped whole: none of it reaches the wire) and return NULL
 * with the error that is set kept (the codec's `del buf[start:]; raise`). */
static PyObject *
truncated(PyObject *buf, Py_ssize_t start)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (PyByteArray_GET_SIZE(buf) > start && PyByteArray_Resize(buf, start) < 0) {
        PyErr_Clear(); /* buf exported meanwhile (cannot shrink): the error set first says what went wrong */
    }
    PyErr_Restore(type, value, traceback);
    return NULL;
}

PyDoc_STRVAR(pack_enter_order_doc,
"pack_enter_order(buf, user_ref_num, side, quantity, symbol, price, time_in_force, display, capacity,\n"
"intermarket_sweep, cross_type, cl_ord_id, appendage=b'')\n--\n\n"
"Append an Unsequenced Data packet carrying an Enter Order to the bytearray buf; return the offset it\n"
"starts at. The bytes, and the error of a value out of range, are venues.ouch.codec.pack_enter_order's; on\n"
"an error buf is left as it was.");

/* The writer of both entry points: args[11] is the ClOrdID's bytes, or (id_form) the order id it is made of. */
static PyObject *
enter(PyObject *const *args, Py_ssize_t nargs, int id_form)
{
    if (nargs != 12 && nargs != 13) {
        PyErr_SetString(PyExc_TypeError,
                        id_form ? "pack_enter_order_id() takes 12 or 13 positional arguments (the last, appendage, "
                                  "optional)"
                                : "pack_enter_order() takes 12 or 13 positional arguments (the last, appendage, "
                                  "optional)");
        return NULL;
    }
    PyObject *buf = args[0];
    if (!PyByteArray_Check(buf)) {
        PyErr_SetString(PyExc_TypeError, "pack_enter_order: buf must be a bytearray");
        return NULL;
    }
    Py_ssize_t start = PyByteArray_GET_SIZE(buf);
    if (PyByteArray_Resize(buf, start + PACKET) < 0) { /* `buf += _ENTER_BLANK` (a BufferError if exported) */
        return NULL;
    }
    memset(PyByteArray_AS_STRING(buf) + start, 0, PACKET);
    PyObject *appendage = nargs == 13 ? args[12] : NULL;
    Py_ssize_t appendage_size = 0;
    if (appendage != NULL) { /* `len(appendage) if appendage else 0` */
        int truth = PyObject_IsTrue(appendage);
        if (truth < 0) {
            return truncated(buf, start);
        }
        if (truth) {
            appendage_size = PyObject_Size(appendage);
            if (appendage_size < 0) {
                return truncated(buf, start);
            }
        }
        else {
            appendage = NULL;
        }
    }
    /* Held over the writes, as pack_into holds it: an __index__ that resizes buf fails (BufferError), as there,
     * and the pointer stays valid. */
    Py_buffer view;
    if (PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE) < 0) {
        return truncated(buf, start);
    }
    unsigned char *p = (unsigned char *)view.buf + start;
    int failed = 0;
    if (appendage_size > 0xFFFF - LENGTH_BASE) {
        PyErr_Format(struct_error, "'H' format requires 0 <= number <= %lu", 0xFFFFUL);
        failed = 1;
    }
    else {
        put_u16(p, (unsigned long)(LENGTH_BASE + appendage_size));
        p[2] = 'U';
        p[3] = 'O';
        failed = put_uint32(p + 4, args[1]) < 0 || put_char(p + 8, args[2]) < 0 || put_uint32(p + 9, args[3]) < 0 ||
                 put_string(p + 13, args[4], 8) < 0 || put_uint64(p + 21, args[5]) < 0 ||
                 put_char(p + 29, args[6]) < 0 || put_char(p + 30, args[7]) < 0 || put_char(p + 31, args[8]) < 0 ||
                 put_char(p + 32, args[9]) < 0 || put_char(p + 33, args[10]) < 0 ||
                 (id_form ? put_order_id(p + 34, args[11]) : put_string(p + 34, args[11], 14)) < 0;
        if (!failed) {
            put_u16(p + 48, (unsigned long)appendage_size);
        }
    }
    PyBuffer_Release(&view);
    if (failed) {
        return truncated(buf, start);
    }
    if (appendage != NULL) { /* `buf += appendage`: any buffer, as bytearray's += takes */
        PyObject *grown = PySequence_InPlaceConcat(buf, appendage);
        if (grown == NULL) {
            return truncated(buf, start);
        }
        Py_DECREF(grown);
    }
    return PyLong_FromSsize_t(start);
}

static PyObject *
pack_enter_order(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return enter(args, nargs, 0);
}

PyDoc_STRVAR(pack_enter_order_id_doc,
"pack_enter_order_id(buf, user_ref_num, side, quantity, symbol, price, time_in_force, display, capacity,\n"
"intermarket_sweep, cross_type, order_id, appendage=b'')\n--\n\n"
"pack_enter_order with the ClOrdID written from the gateway's order id (an int from 0 to 2**64 - 1), as\n"
"venues.ouch.adapter._cl_ord_id makes it: no bytes object made for it.");

static PyObject *
pack_enter_order_id(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return enter(args, nargs, 1);
}

static PyMethodDef methods[] = {
    {"pack_enter_order", (PyCFunction)(void (*)(void))pack_enter_order, METH_FASTCALL, pack_enter_order_doc},
    {"pack_enter_order_id", (PyCFunction)(void (*)(void))pack_enter_order_id, METH_FASTCALL, pack_enter_order_id_doc},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    (void)module;
    if (struct_error == NULL) {
        PyObject *struct_module = PyImport_ImportModule("struct");
        if (struct_module == NULL) {
            return -1;
        }
        struct_error = PyObject_GetAttrString(struct_module, "error"); /* kept for the process's life */
        Py_DECREF(struct_module);
        if (struct_error == NULL) {
            return -1;
        }
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "venues.ouch._enter",
    "The OUCH Enter Order packet written in one call (see venues/ouch/adapter.py).",
    0,
    methods,
    slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__enter(void)
{
    return PyModuleDef_Init(&module_def);
}
