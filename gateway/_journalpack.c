/* gateway._journalpack: a journal record's bytes (header and MessagePack body) in one call (gateway/journal_pack.py).
 *
 * Built by build_native.py next to the mypyc modules; gateway.journal_mmap uses it only with them (the
 * pure-Python modules encode with msgspec as before). `append` writes the record `MmapJournal.append` wrote
 * with msgspec: the 8-byte header (big-endian body length, then the body's CRC-32 as zlib computes it) and
 * the MessagePack body msgspec's encoder makes of an array_like, tagged Struct. It handles the Struct types
 * and constants registered (`register`, `register_constant`: gateway/journal_pack.py registers the journal's
 * per-order records and their enums' members with msgspec's own bytes for them) holding exact ints within
 * int64/uint64, exact strs, None, True and False; for anything else (a float, a subclass, an int out of
 * range, a str that is not UTF-8 encodable, a body over SCRATCH bytes) it writes nothing and returns -1: the
 * caller encodes with msgspec, whose bytes (or error) are the reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "structmember.h"

#define MAX_TYPES 32
#define MAX_FIELDS 24
#define MAX_PREFIX 16
#define MAX_CONSTANTS 32
#define MAX_CONSTANT_BYTES 16
#define MAX_DEPTH 4
#define SCRATCH 2048
#define HEADER 8

typedef struct {
    PyTypeObject *type; /* a strong reference: registered types live as long as the process */
    Py_ssize_t nfields;
    Py_ssize_t offsets[MAX_FIELDS];
    Py_ssize_t prefix_len;
    unsigned char prefix[MAX_PREFIX]; /* msgspec's array header and tag for this type */
} Spec;

typedef struct {
    PyObject *object; /* a strong reference */
    Py_ssize_t len;
    unsigned char bytes[MAX_CONSTANT_BYTES];
} Constant;

static Spec specs[MAX_TYPES];
static int n_specs;
static Constant constants[MAX_CONSTANTS];
static int n_constants;
static uint32_t crc_table[8][256];

/* Fill the slicing-by-8 tables of the CRC-32 zlib computes (reflected polynomial 0xEDB88320). */
static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
}

/* Return zlib.crc32(data[:len]). */
static uint32_t
crc32_of(const unsigned char *data, Py_ssize_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                           (uint32_t)data[3] << 24);
        uint32_t hi = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        data += 8;
        len -= 8;
    }
    while (len-- > 0) {
        c = crc_table[0][(c ^ *data++) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

static inline void
store16(unsigned char *at, uint16_t value)
{
    at[0] = (unsigned char)(value >> 8);
    at[1] = (unsigned char)value;
}

static inline void
store32(unsigned char *at, uint32_t value)
{
    at[0] = (unsigned char)(value >> 24);
    at[1] = (unsigned char)(value >> 16);
    at[2] = (unsigned char)(value >> 8);
    at[3] = (unsigned char)value;
}

static inline void
store64(unsigned char *at, uint64_t value)
{
    store32(at, (uint32_t)(value >> 32));
    store32(at + 4, (uint32_t)value);
}

/* Write int `obj` as msgspec does (the shortest form) at `out`; return its length, 0 if it is out of range. */
static Py_ssize_t
pack_int(PyObject *obj, unsigned char *out)
{
    int64_t x;
    uint64_t ux;
#if PY_VERSION_HEX < 0x030C0000 /* 3.11's int layout: the size is the signed digit count */
    Py_ssize_t size = Py_SIZE(obj);
    if (size == 0) {
        out[0] = 0;
        return 1;
    }
    if (size == 1 || size == -1) {
        x = (int64_t)((PyLongObject *)obj)->ob_digit[0];
        if (size < 0) {
            x = -x;
        }
        goto have_x;
    }
#endif
    int overflow;
    x = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow > 0) {
        ux = PyLong_AsUnsignedLongLong(obj);
        if (ux == (uint64_t)-1 && PyErr_Occurred()) { /* over 2**64 - 1: msgspec raises OverflowError */
            PyErr_Clear();
            return 0;
        }
        out[0] = 0xcf;
        store64(out + 1, ux);
        return 9;
    }
    if (overflow < 0) { /* under -2**63 */
        return 0;
    }
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
have_x:
#endif
    if (x < -(1LL << 5)) {
        if (x < -(1LL << 15)) {
            if (x < -(1LL << 31)) {
                out[0] = 0xd3;
                store64(out + 1, (uint64_t)x);
                return 9;
            }
            out[0] = 0xd2;
            store32(out + 1, (uint32_t)(int32_t)x);
            return 5;
        }
        if (x < -(1LL << 7)) {
            out[0] = 0xd1;
            store16(out + 1, (uint16_t)(int16_t)x);
            return 3;
        }
        out[0] = 0xd0;
        out[1] = (unsigned char)(int8_t)x;
        return 2;
    }
    if (x < (1LL << 7)) { /* a positive or negative fixint */
        out[0] = (unsigned char)(int8_t)x;
        return 1;
    }
    ux = (uint64_t)x;
    if (ux < (1ULL << 8)) {
        out[0] = 0xcc;
        out[1] = (unsigned char)ux;
        return 2;
    }
    if (ux < (1ULL << 16)) {
        out[0] = 0xcd;
        store16(out + 1, (uint16_t)ux);
        return 3;
    }
    if (ux < (1ULL << 32)) {
        out[0] = 0xce;
        store32(out + 1, (uint32_t)ux);
        return 5;
    }
    out[0] = 0xcf;
    store64(out + 1, ux);
    return 9;
}

/* Write `obj` (a registered Struct or one of its values) at `out`, at most `room` bytes; return the bytes
 * written, -1 if it is anything this module does not write (or does not fit): nothing to rely on written. */
static Py_ssize_t
pack(PyObject *obj, unsigned char *out, Py_ssize_t room, int depth)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (type == &PyUnicode_Type) {
        const char *data;
        Py_ssize_t len;
        if (PyUnicode_IS_COMPACT_ASCII(obj)) {
            data = (const char *)PyUnicode_DATA(obj);
            len = PyUnicode_GET_LENGTH(obj);
        }
        else {
            data = PyUnicode_AsUTF8AndSize(obj, &len);
            if (data == NULL) { /* lone surrogates: msgspec raises */
                PyErr_Clear();
                return -1;
            }
        }
        Py_ssize_t head;
        if (len < 32) {
            head = 1;
        }
        else if (len < (1 << 8)) {
            head = 2;
        }
        else if (len < (1 << 16)) {
            head = 3;
        }
        else {
            return -1; /* str32: over SCRATCH anyway */
        }
        if (head + len > room) {
            return -1;
        }
        if (head == 1) {
            out[0] = (unsigned char)(0xa0 | len);
        }
        else if (head == 2) {
            out[0] = 0xd9;
            out[1] = (unsigned char)len;
        }
        else {
            out[0] = 0xda;
            store16(out + 1, (uint16_t)len);
        }
        memcpy(out + head, data, (size_t)len);
        return head + len;
    }
    if (type == &PyLong_Type) {
        if (room < 9) {
            return -1;
        }
        Py_ssize_t n = pack_int(obj, out);
        return n ? n : -1;
    }
    if (obj == Py_None || obj == Py_False || obj == Py_True) {
        if (room < 1) {
            return -1;
        }
        out[0] = obj == Py_None ? 0xc0 : obj == Py_True ? 0xc3 : 0xc2;
        return 1;
    }
    for (int k = 0; k < n_specs; k++) {
        const Spec *spec = &specs[k];
        if (spec->type != type) {
            continue;
        }
        if (depth >= MAX_DEPTH || spec->prefix_len > room) {
            return -1;
        }
        memcpy(out, spec->prefix, (size_t)spec->prefix_len);
        Py_ssize_t used = spec->prefix_len;
        for (Py_ssize_t f = 0; f < spec->nfields; f++) {
            PyObject *value = *(PyObject **)((char *)obj + spec->offsets[f]);
            if (value == NULL) {
                return -1;
            }
            Py_ssize_t n = pack(value, out + used, room - used, depth + 1);
            if (n < 0) {
                return -1;
            }
            used += n;
        }
        return used;
    }
    for (int k = 0; k < n_constants; k++) {
        const Constant *constant = &constants[k];
        if (constant->object == obj) {
            if (constant->len > room) {
                return -1;
            }
            memcpy(out, constant->bytes, (size_t)constant->len);
            return constant->len;
        }
    }
    return -1;
}

PyDoc_STRVAR(append_doc,
"append(buf, start, record) -> int\n--\n\n"
"Write record's journal bytes (header, MessagePack body) at buf[start:], cut buf after them, return their end.\n\n"
"-1 (buf untouched): record is, or holds, something not registered or not handled: encode it with msgspec.");

static PyObject *
append(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyByteArray_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "append(buf: bytearray, start: int, record)");
        return NULL;
    }
    PyObject *buf = args[0];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || start > PyByteArray_GET_SIZE(buf)) {
        PyErr_SetString(PyExc_ValueError, "append: start out of the buffer's range");
        return NULL;
    }
    unsigned char body[SCRATCH];
    Py_ssize_t length = pack(args[2], body, SCRATCH, 0);
    if (length < 0) {
        return PyLong_FromLong(-1);
    }
    Py_ssize_t end = start + HEADER + length;
    if (end <= PyByteArray_GET_SIZE(buf)) {
        /* Cut without giving memory back (PyByteArray_Resize reallocs a buffer cut below half its allocation
         * down to exact size: the batch's next appends would grow it again), as msgspec's encode_into does. */
        if (((PyByteArrayObject *)buf)->ob_exports > 0) {
            PyErr_SetString(PyExc_BufferError, "Existing exports of data: object cannot be re-sized");
            return NULL;
        }
        Py_SET_SIZE(buf, end);
        PyByteArray_AS_STRING(buf)[end] = '\0';
    }
    else if (PyByteArray_Resize(buf, end) < 0) { /* exported (a memoryview): msgspec could not resize it either */
        return NULL;
    }
    unsigned char *at = (unsigned char *)PyByteArray_AS_STRING(buf) + start;
    store32(at, (uint32_t)length);
    store32(at + 4, crc32_of(body, length));
    memcpy(at + HEADER, body, (size_t)length);
    return PyLong_FromSsize_t(end);
}

PyDoc_STRVAR(register_doc,
"register(cls, prefix, *fields)\n--\n\n"
"Write instances of cls (exactly) as prefix then each field's value, fields being cls's member descriptors\n"
"(a type registered again is replaced).");

static PyObject *
register_type(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs < 2 || !PyType_Check(args[0]) || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "register(cls: type, prefix: bytes, *fields)");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)args[0];
    Py_ssize_t nfields = nargs - 2;
    if (n_specs >= MAX_TYPES || nfields > MAX_FIELDS || PyBytes_GET_SIZE(args[1]) > MAX_PREFIX) {
        PyErr_SetString(PyExc_ValueError, "register: too many types, fields or prefix bytes");
        return NULL;
    }
    Spec found;
    Spec *spec = &found;
    for (Py_ssize_t f = 0; f < nfields; f++) {
        PyObject *descr = args[2 + f];
        if (!PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
            PyErr_SetString(PyExc_TypeError, "register: a field is not a member descriptor");
            return NULL;
        }
        PyMemberDescrObject *member = (PyMemberDescrObject *)descr;
        if (!PyType_IsSubtype(type, PyDescr_TYPE(member)) || member->d_member->type != T_OBJECT_EX) {
            PyErr_SetString(PyExc_TypeError, "register: a field is not an object slot of the type");
            return NULL;
        }
        spec->offsets[f] = member->d_member->offset;
    }
    spec->nfields = nfields;
    spec->prefix_len = PyBytes_GET_SIZE(args[1]);
    memcpy(spec->prefix, PyBytes_AS_STRING(args[1]), (size_t)spec->prefix_len);
    spec->type = type;
    int k = 0;
    while (k < n_specs && specs[k].type != type) {
        k++;
    }
    if (k == n_specs) { /* new: keep the type alive (a type registered again keeps its one reference) */
        Py_INCREF(type);
        n_specs++;
    }
    specs[k] = found;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(register_constant_doc,
"register_constant(obj, encoded)\n--\n\n"
"Write obj (this very object, e.g. an enum member) as the bytes encoded.");

static PyObject *
register_constant(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "register_constant(obj, encoded: bytes)");
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(args[1]);
    if (n_constants >= MAX_CONSTANTS || len < 1 || len > MAX_CONSTANT_BYTES) {
        PyErr_SetString(PyExc_ValueError, "register_constant: too many constants, or encoded of a bad length");
        return NULL;
    }
    Constant *constant = &constants[n_constants];
    Py_INCREF(args[0]);
    constant->object = args[0];
    constant->len = len;
    memcpy(constant->bytes, PyBytes_AS_STRING(args[1]), (size_t)len);
    n_constants++;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(registered_doc, "registered() -> tuple\n--\n\nReturn the registered types, in the order they were registered.");

static PyObject *
registered(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    PyObject *types = PyTuple_New(n_specs);
    if (types == NULL) {
        return NULL;
    }
    for (int k = 0; k < n_specs; k++) {
        Py_INCREF(specs[k].type);
        PyTuple_SET_ITEM(types, k, (PyObject *)specs[k].type);
    }
    return types;
}

static PyMethodDef methods[] = {
    {"append", (PyCFunction)(void (*)(void))append, METH_FASTCALL, append_doc},
    {"register", (PyCFunction)(void (*)(void))register_type, METH_FASTCALL, register_doc},
    {"register_constant", (PyCFunction)(void (*)(void))register_constant, METH_FASTCALL, register_constant_doc},
    {"registered", registered, METH_NOARGS, registered_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "gateway._journalpack",
    "A journal record's bytes in one call (see gateway/journal_pack.py).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__journalpack(void)
{
    crc_init();
    return PyModuleDef_Init(&module_def);
}
