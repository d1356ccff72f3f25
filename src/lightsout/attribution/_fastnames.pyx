# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""AS network entities straight from the AS table's columns, in C (the optional extension of
:func:`lightsout.attribution.entities.make_asn_networks`; without it the same entities are made
column by column in Python, tests/test_asnames.py compares both with ``make_asn_network``).

A full BGP table names ~50,000 ASes, each an :class:`~lightsout.model.Entity` (a frozen dataclass:
its ``__init__`` sets each of seven slots through ``object.__setattr__``, 1-2 us an entity in
Python). Here each AS costs a binary search of the table's AS numbers, the UTF-8 decoding of its
label's bytes (only the labels asked for are decoded, never the 91k rows), two ASCII strings
(``AS12880``, ``network/AS12880``) and seven stores into the new instance's slots, at the offsets
their member descriptors give (what ``object.__setattr__`` ends in, without a call per field):
~0.3 us an entity instead of ~1.5 us.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcpy


cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_FromStringAndSize(const char *s, Py_ssize_t size)
    object PyType_GenericAlloc(object cls, Py_ssize_t nitems)
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyTypeObject PyMemberDescr_Type


cdef extern from "structmember.h":  # the member types and flags (Python.h has them from 3.12 only)
    int T_OBJECT_EX
    int READONLY


cdef Py_ssize_t slot_offset(type cls, str name) except -1:
    """Where instances of ``cls`` keep the slot ``name`` (a ``__slots__`` member of ``cls`` itself,
    holding any object): what ``object.__setattr__`` writes to, found through its descriptor."""
    descr = cls.__dict__.get(name)
    if descr is None or type(descr) is not <type>&PyMemberDescr_Type:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    cdef PyMemberDef *member = (<PyMemberDescrObject *>descr).d_member
    if member.type != T_OBJECT_EX or member.flags & READONLY:
        raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
    return member.offset


cdef inline void store(object obj, Py_ssize_t offset, object value):
    """Set a slot that is still empty (a new object's): a reference to ``value`` in it."""
    Py_INCREF(value)
    (<PyObject **>((<char *><PyObject *>obj) + offset))[0] = <PyObject *>value


cdef Py_ssize_t ascii_number(char *out, unsigned long long n):
    """``n`` in decimal at ``out`` (at most 20 digits); its length."""
    cdef char digits[20]
    cdef Py_ssize_t k = 0, i
    while True:
        digits[k] = <char>(48 + n % 10)
        k += 1
        n //= 10
        if n == 0:
            break
    for i in range(k):
        out[i] = digits[k - 1 - i]
    return k


cdef class NetworkTable:
    """The columns file's body (see ``asnames.write_columns``): AS numbers, country index per row,
    labels joined by newlines; where each label starts is found once, by ``memchr``."""

    cdef bytes body
    cdef const uint32_t *asns
    cdef const unsigned char *country_index
    cdef Py_ssize_t rows
    cdef Py_ssize_t *starts  # rows + 1 offsets into body: label i is body[starts[i]:starts[i+1] - 1]
    cdef list countries  # index -> code (str) or None (index 0)

    def __cinit__(self, bytes body, Py_ssize_t asns_at, Py_ssize_t rows, Py_ssize_t country_at,
                  list countries, Py_ssize_t labels_at, Py_ssize_t labels_end):
        cdef const char *b = body
        cdef const char *nl
        cdef Py_ssize_t i = 0, at = labels_at
        if asns_at % 4 or asns_at + 4 * rows > len(body) or country_at + rows > len(body) \
                or labels_end > len(body) or labels_at > labels_end:
            raise ValueError("AS columns: sections outside the file")
        self.body = body
        self.asns = <const uint32_t *>(b + asns_at)  # little-endian in the file; checked by the caller
        self.country_index = <const unsigned char *>(b + country_at)
        self.rows = rows
        self.countries = countries
        self.starts = <Py_ssize_t *>malloc((rows + 1) * sizeof(Py_ssize_t))
        if self.starts == NULL:
            raise MemoryError()
        while i < rows:
            self.starts[i] = at
            i += 1
            nl = <const char *>memchr(b + at, b"\n", labels_end - at)
            at = (nl - b + 1) if nl != NULL else labels_end + 1
        self.starts[rows] = at
        if at != labels_end + 1:
            raise ValueError(f"AS columns: {rows} rows, labels end at {at - 1} not {labels_end}")
        for i in range(rows):
            if self.country_index[i] >= len(countries):
                raise ValueError(f"AS columns: row {i} has country index {self.country_index[i]}")

    def __dealloc__(self):
        free(self.starts)

    cdef Py_ssize_t find(self, unsigned long long asn):
        """The row of AS ``asn`` (binary search of the ascending AS numbers), -1 if it has none."""
        cdef Py_ssize_t lo = 0, hi = self.rows, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.asns[mid] < asn:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < self.rows and self.asns[lo] == asn else -1

    cdef object label(self, Py_ssize_t row):
        return PyUnicode_DecodeUTF8(<const char *>self.body + self.starts[row],
                                    self.starts[row + 1] - 1 - self.starts[row], NULL)

    def row(self, unsigned long long asn):
        """(label, country or None) of AS ``asn``'s row, None when the table has no row for it."""
        cdef Py_ssize_t row = self.find(asn)
        if row < 0:
            return None
        return self.label(row), self.countries[self.country_index[row]]

    def entities(self, type cls, object kind, list asns):
        """``cls(f"network/AS{n}", kind, f"AS{n}", label, country, parent, n)`` for each AS number
        ``n`` (label ``AS{n}`` and no country when the table lacks it), made as a frozen
        dataclass's ``__init__`` makes them (a new instance, then ``object.__setattr__`` of each
        field, i.e. a store into its slot), for a ``cls`` whose only fields are these seven slots and
        that has no ``__new__``, ``__init__`` logic or ``__post_init__`` of its own to run."""
        cdef Py_ssize_t i, n = len(asns), row, width
        cdef unsigned long long asn
        cdef list out = [None] * n
        cdef list parents = [None] + ["country/" + cc for cc in self.countries[1:]]
        cdef object country, parent, label, code, entity, number
        cdef char text[40]
        cdef Py_ssize_t o_id, o_kind, o_code, o_name, o_cc, o_parent, o_asn
        if cls.__new__ is not object.__new__ or getattr(cls, "__post_init__", None) is not None:
            raise TypeError(f"{cls.__name__} has its own __new__ or a __post_init__")
        o_id = slot_offset(cls, "entity_id")
        o_kind = slot_offset(cls, "kind")
        o_code = slot_offset(cls, "code")
        o_name = slot_offset(cls, "name")
        o_cc = slot_offset(cls, "country_code")
        o_parent = slot_offset(cls, "parent_id")
        o_asn = slot_offset(cls, "asn")
        memcpy(text, b"network/AS", 10)
        for i in range(n):
            number = asns[i]
            asn = number  # OverflowError for a negative number or one beyond 64 bits
            row = self.find(asn)
            width = 10 + ascii_number(text + 10, asn)
            code = PyUnicode_FromStringAndSize(text + 8, width - 8)
            if row >= 0:
                label = self.label(row)
                country = self.countries[self.country_index[row]]
                parent = parents[self.country_index[row]]
            else:
                label = code
                country = parent = None
            entity = PyType_GenericAlloc(cls, 0)
            store(entity, o_id, PyUnicode_FromStringAndSize(text, width))
            store(entity, o_kind, kind)
            store(entity, o_code, code)
            store(entity, o_name, label)
            store(entity, o_cc, country)
            store(entity, o_parent, parent)
            store(entity, o_asn, number)
            out[i] = entity
        return out
