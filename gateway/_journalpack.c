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
 *
 * `append_fields` and `append_request` write the same bytes from a record's field values (no record made:
 * MmapJournal.append_fields / append_order_sent, the engine's per-order records); `append_frame` writes a
 * strategy-protocol frame (4-byte length, MessagePack body: FrameWriter.write's bytes) of an order event.
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

/* The spec of each type met, registered or not (NULL): a direct-mapped cache in front of the linear look-up, so
 * a record's type and each nested Struct's cost one comparison. A registered type is never freed (the spec holds
 * a reference) and `register` empties the cache, so an entry stays true for as long as its type lives. */
#define CACHE_SIZE 64
static struct {
    PyTypeObject *type;
    const Spec *spec;
} type_cache[CACHE_SIZE];

static const Spec *
find_spec(PyTypeObject *type)
{
    uintptr_t key = (uintptr_t)type;
    size_t slot = (size_t)((key >> 4) ^ (key >> 10)) & (CACHE_SIZE - 1);
    if (type_cache[slot].type == type) {
        return type_cache[slot].spec;
    }
    const Spec *found = NULL;
    for (int k = 0; k < n_specs; k++) {
        if (specs[k].type == type) {
            found = &specs[k];
            break;
        }
    }
    type_cache[slot].type = type;
    type_cache[slot].spec = found;
    return found;
}

/* Write str `obj` as msgspec does at `out`, at most `room` bytes; return the bytes written, -1 if not. */
static inline Py_ssize_t
pack_str(PyObject *obj, unsigned char *out, Py_ssize_t room)
{
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
    if (len < 32) {
        if (1 + len > room) {
            return -1;
        }
        out[0] = (unsigned char)(0xa0 | len);
        memcpy(out + 1, data, (size_t)len);
        return 1 + len;
    }
    if (len < (1 << 8)) {
        if (2 + len > room) {
            return -1;
        }
        out[0] = 0xd9;
        out[1] = (unsigned char)len;
        memcpy(out + 2, data, (size_t)len);
        return 2 + len;
    }
    if (len < (1 << 16) && 3 + len <= room) {
        out[0] = 0xda;
        store16(out + 1, (uint16_t)len);
        memcpy(out + 3, data, (size_t)len);
        return 3 + len;
    }
    return -1; /* str32, or over the room: over SCRATCH anyway */
}

static Py_ssize_t pack_struct(const Spec *spec, PyObject *obj, unsigned char *out, Py_ssize_t room, int depth);

/* Write `obj` (a registered Struct or one of its values) at `out`, at most `room` bytes; return the bytes
 * written, -1 if it is anything this module does not write (or does not fit): nothing to rely on written.
 * The common values (str, int, None, bools) first, inline: no call per field for them. */
static inline Py_ssize_t
pack(PyObject *obj, unsigned char *out, Py_ssize_t room, int depth)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (type == &PyUnicode_Type) {
        return pack_str(obj, out, room);
    }
    if (type == &PyLong_Type) {
        if (room < 9) { /* near the end of the buffer: as long as it fits (msgspec's bytes up to 2 KiB, all) */
            unsigned char tmp[9];
            Py_ssize_t n = pack_int(obj, tmp);
            if (n == 0 || n > room) {
                return -1;
            }
            memcpy(out, tmp, (size_t)n);
            return n;
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
    const Spec *spec = find_spec(type);
    if (spec != NULL) {
        return pack_struct(spec, obj, out, room, depth);
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

/* Write `spec`'s prefix at `out` (at most `room` bytes, at nesting `depth`); return its length, -1 if not. */
static inline Py_ssize_t
pack_prefix(const Spec *spec, unsigned char *out, Py_ssize_t room, int depth)
{
    if (depth >= MAX_DEPTH || spec->prefix_len > room) {
        return -1;
    }
    memcpy(out, spec->prefix, (size_t)spec->prefix_len);
    return spec->prefix_len;
}

/* Write the `n` values at `out` one after the other (at most `room` bytes); return the bytes, -1 if not. */
static Py_ssize_t
pack_values(PyObject *const *values, Py_ssize_t n, unsigned char *out, Py_ssize_t room, int depth)
{
    Py_ssize_t used = 0;
    for (Py_ssize_t f = 0; f < n; f++) {
        Py_ssize_t k = pack(values[f], out + used, room - used, depth);
        if (k < 0) {
            return -1;
        }
        used += k;
    }
    return used;
}

/* Write `obj`, an instance of `spec`'s type exactly: its prefix, then its fields' values. */
static Py_ssize_t
pack_struct(const Spec *spec, PyObject *obj, unsigned char *out, Py_ssize_t room, int depth)
{
    Py_ssize_t used = pack_prefix(spec, out, room, depth);
    if (used < 0) {
        return -1;
    }
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

/* Check `append`'s and the part writers' first two arguments; return the start (-1 with an error set). */
static Py_ssize_t
check_buffer(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t least, const char *usage)
{
    if (nargs < least || !PyByteArray_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (start < 0 || start > PyByteArray_GET_SIZE(args[0])) {
        PyErr_SetString(PyExc_ValueError, "append: start out of the buffer's range");
        return -1;
    }
    return start;
}

/* Put the header (`header` bytes: the body's length, then with 8 its CRC-32) and `body` (`length` bytes,
 * written) at buf[start:], cut buf after them; return their end. */
static PyObject *
finish(PyObject *buf, Py_ssize_t start, const unsigned char *body, Py_ssize_t length, Py_ssize_t header)
{
    if (length < 0) {
        return PyLong_FromLong(-1);
    }
    Py_ssize_t end = start + header + length;
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
    if (header == HEADER) {
        store32(at + 4, crc32_of(body, length));
    }
    memcpy(at + header, body, (size_t)length);
    return PyLong_FromSsize_t(end);
}

PyDoc_STRVAR(append_doc,
"append(buf, start, record) -> int\n--\n\n"
"Write record's journal bytes (header, MessagePack body) at buf[start:], cut buf after them, return their end.\n\n"
"-1 (buf untouched): record is, or holds, something not registered or not handled: encode it with msgspec.");

static PyObject *
append(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "append(buf: bytearray, start: int, record)");
        return NULL;
    }
    Py_ssize_t start = check_buffer(args, nargs, 3, "append(buf: bytearray, start: int, record)");
    if (start < 0) {
        return NULL;
    }
    unsigned char body[SCRATCH];
    return finish(args[0], start, body, pack(args[2], body, SCRATCH, 0), HEADER);
}

PyDoc_STRVAR(append_frame_doc,
"append_frame(buf, start, message) -> int\n--\n\n"
"Write message's strategy-protocol frame (the body's length, 4 bytes big-endian, then its MessagePack) at\n"
"buf[start:], cut buf after it, return its end.\n\n"
"-1 (buf untouched): message is, or holds, something not registered or not handled: encode it with msgspec.");

static PyObject *
append_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    static const char usage[] = "append_frame(buf: bytearray, start: int, message)";
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Py_ssize_t start = check_buffer(args, nargs, 3, usage);
    if (start < 0) {
        return NULL;
    }
    unsigned char body[SCRATCH];
    return finish(args[0], start, body, pack(args[2], body, SCRATCH, 0), 4);
}

PyDoc_STRVAR(append_fields_doc,
"append_fields(buf, start, cls, *values) -> int\n--\n\n"
"As append(buf, start, cls(*values)), without making the record: cls registered, a value for each field.\n\n"
"-1 (buf untouched): a value not handled: make the record and append it with msgspec.");

static PyObject *
append_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    static const char usage[] = "append_fields(buf: bytearray, start: int, cls: type, *values)";
    Py_ssize_t start = check_buffer(args, nargs, 3, usage);
    if (start < 0) {
        return NULL;
    }
    const Spec *spec = PyType_Check(args[2]) ? find_spec((PyTypeObject *)args[2]) : NULL;
    if (spec == NULL || nargs - 3 != spec->nfields) {
        PyErr_SetString(PyExc_TypeError, "append_fields: cls is not registered, or not a value for each field");
        return NULL;
    }
    unsigned char body[SCRATCH];
    Py_ssize_t used = pack_prefix(spec, body, SCRATCH, 0);
    Py_ssize_t n = pack_values(args + 3, nargs - 3, body + used, SCRATCH - used, 1);
    return finish(args[0], start, body, n < 0 ? -1 : used + n, HEADER);
}

static const Spec *request_spec; /* set by register_request: the outer record of append_request */

PyDoc_STRVAR(append_request_doc,
"append_request(buf, start, first, second, cls, *values) -> int\n--\n\n"
"As append(buf, start, R(first, second, cls(*values), None)) for the type R given to register_request.\n\n"
"-1 (buf untouched): a value not handled: make the records and append them with msgspec.");

static PyObject *
append_request(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    static const char usage[] = "append_request(buf: bytearray, start: int, first, second, cls: type, *values)";
    Py_ssize_t start = check_buffer(args, nargs, 5, usage);
    if (start < 0) {
        return NULL;
    }
    const Spec *spec = PyType_Check(args[4]) ? find_spec((PyTypeObject *)args[4]) : NULL;
    if (request_spec == NULL || spec == NULL || nargs - 5 != spec->nfields) {
        PyErr_SetString(PyExc_TypeError, "append_request: no request type, cls not registered, or a value missing");
        return NULL;
    }
    unsigned char body[SCRATCH];
    Py_ssize_t used = pack_prefix(request_spec, body, SCRATCH, 0);
    Py_ssize_t n = pack_values(args + 2, 2, body + used, SCRATCH - used, 1);
    if (n >= 0) {
        used += n;
        n = pack_prefix(spec, body + used, SCRATCH - used, 1);
    }
    if (n >= 0) {
        used += n;
        n = pack_values(args + 5, nargs - 5, body + used, SCRATCH - used, 2);
    }
    if (n >= 0 && used + n < SCRATCH) {
        used += n;
        body[used] = 0xc0; /* the fourth field: None */
        n = 1;
    }
    else {
        n = -1;
    }
    return finish(args[0], start, body, n < 0 ? -1 : used + n, HEADER);
}

PyDoc_STRVAR(register_request_doc,
"register_request(cls)\n--\n\n"
"Make cls, registered with four fields, the outer record append_request writes (the fourth field None).");

static PyObject *
register_request(PyObject *module, PyObject *cls)
{
    (void)module;
    const Spec *spec = PyType_Check(cls) ? find_spec((PyTypeObject *)cls) : NULL;
    if (spec == NULL || spec->nfields != 4) {
        PyErr_SetString(PyExc_TypeError, "register_request: cls is not registered with four fields");
        return NULL;
    }
    request_spec = spec;
    Py_RETURN_NONE;
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
    memset(type_cache, 0, sizeof(type_cache)); /* an entry may say "not registered" */
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
    {"append_frame", (PyCFunction)(void (*)(void))append_frame, METH_FASTCALL, append_frame_doc},
    {"append_fields", (PyCFunction)(void (*)(void))append_fields, METH_FASTCALL, append_fields_doc},
    {"append_request", (PyCFunction)(void (*)(void))append_request, METH_FASTCALL, append_request_doc},
    {"register_request", register_request, METH_O, register_request_doc},
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
