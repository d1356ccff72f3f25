# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The reader's hot path in C: MRT framing, record decoding and table updates for the common records.

Built from pyproject.toml (setup.py, Cython) when a C compiler is present; without it the pure-Python
path (framing.iter_frames + decode.Decoder) reads every record, with the same result
(tests/test_mrt_fast.py reads real files both ways and compares the points and the tables).

:meth:`FastPath.run` walks records from a window of the decompressed stream exactly as the inline
fast path of :func:`~lightsout.sources.mrt.framing.iter_frames` frames them and decodes the
frequent ones as :class:`~lightsout.sources.mrt.decode.Decoder` does: TABLE_DUMP_V2 RIB entries,
BGP4MP/BGP4MP_ET UPDATEs and state changes. Every record is validated completely before anything is
applied; at the first record that is anything else (damaged framing, a layout error, a session going
down, a peer index table, host bits set, a cut-short NLRI, an older MRT type) it stops and returns
its offset, and the Python path reads that record (with its skip reason or its rare handling).
Why C: bench/bench_mrt.py measures the Python decoder at 0.2-0.7x bgpdump -m's records/s per core.

One extension in units: this file (the FastPath object: slots, counts, the framing loop) includes
``_fastmrt_wire.pxi`` (field readers, AS_PATH origins), ``_fastmrt_td2.pxi`` (RIB entries),
``_fastmrt_bgp4mp.pxi`` (BGP4MP/BGP4MP_ET messages) and ``_fastmrt_keys.pxi`` (prefix keys in
bulk); the record decoders are module-level C functions of a typed FastPath, called directly.
"""

from cpython.array cimport array
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetDefault
from cpython.list cimport PyList_GET_SIZE
from cpython.ref cimport PyObject
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp

cdef enum:
    HEADER_LEN = 12
    T_TABLE_DUMP_V2 = 13
    T_BGP4MP = 16
    T_BGP4MP_ET = 17
    ESTABLISHED = 6
    AS_TRANS = 23456
    V6_TAG = 0x80
    MAX_TYPES = 64

cdef long long WINDOW = 86400
cdef long long MAX_RECORD_LEN = 16 * 1024 * 1024
cdef const unsigned char *MARKER = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

include "_fastmrt_wire.pxi"


cdef class FastPath:
    """Decodes runs of common records straight into the collector's tables (see the module doc)."""

    cdef object decoder, state, counts, at, ids, tables, sizes, peaks, grow
    cdef list keys, origin_sets
    cdef dict origin_ids
    cdef Py_ssize_t capacity
    cdef char *dirty  # RouteTables.dirty: 1 per prefix id whose route was written (reloaded on growth)
    cdef object prefix_id, origin_id, new_table, peer_name
    cdef bint track_peaks
    cdef unsigned int known[MAX_TYPES]
    cdef long long last_at
    cdef dict single_oid
    # slots: the peers touched during one run, their sizes and peaks kept in C
    cdef list slot_names
    cdef list slot_tables
    cdef long long *slot_size
    cdef long long *slot_peak
    cdef char *slot_dirty
    cdef int nslots, slot_cap
    cdef dict peer_slot
    cdef object td2_list
    cdef int *td2_slot
    cdef int td2_n
    # prefix spans of one record: (start, stop, v6) in three arrays
    cdef Py_ssize_t *span_at
    cdef Py_ssize_t *span_end
    cdef char *span_v6
    cdef Py_ssize_t span_cap
    cdef unsigned int *entry_oid
    cdef int *entry_index
    # counts of one run
    cdef long long n_framed, n_route_records, n_ann, n_wd, n_state, n_other, n_local
    cdef long long by_type[MAX_TYPES][16]

    def __cinit__(self):
        self.slot_size = NULL
        self.slot_peak = NULL
        self.slot_dirty = NULL
        self.td2_slot = NULL
        self.span_at = NULL
        self.span_end = NULL
        self.span_v6 = NULL
        self.entry_oid = NULL
        self.entry_index = NULL

    def __init__(self, decoder, known_subtypes, bint track_peaks):
        cdef int t
        self.decoder = decoder
        self.state = decoder.state
        self.counts = decoder.counts
        self.at = decoder.at
        self.ids = self.state.ids
        self.keys = self.state.keys
        self.origin_sets = self.state.origin_sets
        self.origin_ids = self.state.origin_ids
        self.grow = self.state._grow
        self.tables = self.state.tables
        self.sizes = self.state.sizes
        self.peaks = self.state.peaks
        self.prefix_id = self.state.prefix_id
        self.origin_id = self.state.origin_id
        self.new_table = self.state.table
        self.peer_name = decoder.peer
        self.track_peaks = track_peaks
        self.last_at = -1
        self.single_oid = {}
        for t in range(MAX_TYPES):
            self.known[t] = 0
        for t, subs in known_subtypes.items():
            if t < MAX_TYPES:
                for s in subs:
                    if s < 32:
                        self.known[t] |= 1u << s
        self.slot_cap = 64
        self.slot_size = <long long *>malloc(self.slot_cap * sizeof(long long))
        self.slot_peak = <long long *>malloc(self.slot_cap * sizeof(long long))
        self.slot_dirty = <char *>malloc(self.slot_cap)
        self.span_cap = 4096
        self.span_at = <Py_ssize_t *>malloc(self.span_cap * sizeof(Py_ssize_t))
        self.span_end = <Py_ssize_t *>malloc(self.span_cap * sizeof(Py_ssize_t))
        self.span_v6 = <char *>malloc(self.span_cap)
        self.entry_oid = <unsigned int *>malloc(65536 * sizeof(unsigned int))
        self.entry_index = <int *>malloc(65536 * sizeof(int))
        if not (self.slot_size and self.slot_peak and self.slot_dirty and self.span_at and self.span_end
                and self.span_v6 and self.entry_oid and self.entry_index):
            raise MemoryError()

    def __dealloc__(self):
        free(self.slot_size)
        free(self.slot_peak)
        free(self.slot_dirty)
        free(self.td2_slot)
        free(self.span_at)
        free(self.span_end)
        free(self.span_v6)
        free(self.entry_oid)
        free(self.entry_index)

    # -- slots ---------------------------------------------------------------------------------

    cdef int _slot(self, str name) except -1:
        """A slot for the peer ``name`` (its table created as RouteSink does), sizes loaded."""
        cdef int s = self.nslots
        if s == self.slot_cap:
            self.slot_cap *= 2
            self.slot_size = <long long *>realloc(self.slot_size, self.slot_cap * sizeof(long long))
            self.slot_peak = <long long *>realloc(self.slot_peak, self.slot_cap * sizeof(long long))
            self.slot_dirty = <char *>realloc(self.slot_dirty, self.slot_cap)
            if not (self.slot_size and self.slot_peak and self.slot_dirty):
                raise MemoryError()
        table = self.tables.get(name)
        if table is None:
            table = self.new_table(name)
        self.slot_names.append(name)
        self.slot_tables.append(table)
        self.slot_size[s] = self.sizes[name]
        self.slot_peak[s] = self.peaks.get(name, 0)
        self.slot_dirty[s] = 0
        self.nslots = s + 1
        return s

    cdef int _flush_slots(self) except -1:
        cdef int s
        cdef str name
        for s in range(self.nslots):
            if self.slot_dirty[s]:
                name = self.slot_names[s]
                self.sizes[name] = self.slot_size[s]
                if self.track_peaks and self.slot_peak[s] > self.peaks.get(name, 0):
                    self.peaks[name] = self.slot_peak[s]
                self.slot_dirty[s] = 0
        return 0

    cdef int _at(self, long long ts) except -1:
        if ts != self.last_at:
            self._flush_slots()  # a bin may close: the replay reads sizes and peaks
            self.at(ts)
            self.last_at = ts
        return 0

    cdef int _spans(self, Py_ssize_t need) except -1:
        if need <= self.span_cap:
            return 0
        while self.span_cap < need:
            self.span_cap *= 2
        self.span_at = <Py_ssize_t *>realloc(self.span_at, self.span_cap * sizeof(Py_ssize_t))
        self.span_end = <Py_ssize_t *>realloc(self.span_end, self.span_cap * sizeof(Py_ssize_t))
        self.span_v6 = <char *>realloc(self.span_v6, self.span_cap)
        if not (self.span_at and self.span_end and self.span_v6):
            raise MemoryError()
        return 0

    cdef Py_ssize_t _pid(self, object key) except -1:
        """RouteTables.prefix_id in one probe of the dict (setdefault): a lookup and then an insert
        probed the ~600k-key dict twice for every new prefix (perf: _Py_dict_lookup, 17 % of a
        full-table update file). The tables may grow: callers reload their table pointer when
        ``capacity`` changed."""
        cdef Py_ssize_t n = PyList_GET_SIZE(self.keys)
        cdef object fresh = n
        cdef PyObject *got = PyDict_SetDefault(self.ids, key, fresh)
        if got != <PyObject *>fresh:
            return <object>got
        self.keys.append(key)
        if n >= self.capacity:
            self.grow(n + 1)
            self.capacity = self.state.capacity
            self.dirty = PyByteArray_AS_STRING(self.state.dirty)
        return n

    cdef unsigned int _oid(self, const unsigned char *b, Origin *o) except 0:
        cdef object got
        cdef int i
        if o.kind == 1:
            got = self.single_oid.get(o.asn)
            if got is None:
                one = (o.asn,)
                got = self.origin_ids.get(one)
                if got is None:  # RouteTables.origin_id for a new single AS
                    got = len(self.origin_sets)
                    self.origin_sets.append(one)
                    self.origin_ids[one] = got
                self.single_oid[o.asn] = got
            return got
        if o.kind == 0:
            return self.origin_id(())
        return self.origin_id(tuple([member(b, o, i) for i in range(o.count)]))

    cdef inline object _key(self, const unsigned char *b, Py_ssize_t at, Py_ssize_t stop, char v6):
        cdef bytes key
        cdef char *dst
        cdef Py_ssize_t i
        if not v6:
            return PyBytes_FromStringAndSize(<const char *>b + at, stop - at)
        key = PyBytes_FromStringAndSize(NULL, stop - at + 1)
        dst = PyBytes_AS_STRING(key)
        dst[0] = <char>V6_TAG
        for i in range(stop - at):
            dst[i + 1] = <char>b[at + i]
        return key

    # -- the run ---------------------------------------------------------------------------------

    def run(self, bytes data, Py_ssize_t off, bint eof, long long ref_ts, Py_ssize_t lookahead):
        """Frame and decode records from ``data[off:]`` while they are common ones; returns (the
        offset of the first record left to the Python path, the last record's time, records read)."""
        cdef const unsigned char *d = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t end, nend
        cdef long long ts, nts, length, nlen
        cdef unsigned int typ, sub, ntyp, nsub
        cdef bint good
        cdef long long records = 0
        cdef int r
        self.slot_names = []
        self.slot_tables = []
        self.nslots = 0
        self.peer_slot = {}
        self.td2_list = None
        self.capacity = self.state.capacity
        self.dirty = PyByteArray_AS_STRING(self.state.dirty)
        self.n_framed = self.n_route_records = self.n_ann = self.n_wd = 0
        self.n_state = self.n_other = self.n_local = 0
        for r in range(MAX_TYPES):
            for typ in range(16):
                self.by_type[r][typ] = 0
        try:
            while off + HEADER_LEN <= n and (eof or n - off >= lookahead):
                ts = u32(d + off)
                typ = u16(d + off + 4)
                sub = u16(d + off + 6)
                length = u32(d + off + 8)
                end = off + HEADER_LEN + length
                if typ >= MAX_TYPES or sub >= 32 or not (self.known[typ] >> sub) & 1:
                    break
                if ts - ref_ts > WINDOW or ref_ts - ts > WINDOW:
                    break
                good = end == n and eof
                if not good and end + HEADER_LEN <= n:
                    nts = u32(d + end)
                    ntyp = u16(d + end + 4)
                    nsub = u16(d + end + 6)
                    nlen = u32(d + end + 8)
                    nend = end + HEADER_LEN + nlen
                    good = (ntyp < MAX_TYPES and nsub < 32 and (self.known[ntyp] >> nsub) & 1
                            and nlen <= MAX_RECORD_LEN and nend <= n and -WINDOW <= nts - ts <= WINDOW)
                if not good or length > MAX_RECORD_LEN:
                    break
                if typ == T_TABLE_DUMP_V2:
                    r = _td2(self, d + off + HEADER_LEN, length, ts, sub)
                elif typ == T_BGP4MP:
                    r = _bgp4mp(self, d + off + HEADER_LEN, length, ts, sub)
                elif typ == T_BGP4MP_ET and length >= 4:
                    r = _bgp4mp(self, d + off + HEADER_LEN + 4, length - 4, ts, sub)
                else:
                    r = 1
                if r:
                    break
                self.n_framed += 1
                self.by_type[typ][sub & 15] += 1
                ref_ts = ts
                off = end
                records += 1
        finally:
            self._flush_slots()
            self._flush_counts()
        return off, ref_ts, records

    cdef int _flush_counts(self) except -1:
        cdef int t, s
        c = self.counts
        c.framed += self.n_framed
        c.route_records += self.n_route_records
        c.announcements += self.n_ann
        c.withdrawals += self.n_wd
        c.state_changes += self.n_state
        c.other_messages += self.n_other
        c.local_messages += self.n_local
        by_type = c.by_type
        for t in range(MAX_TYPES):
            for s in range(16):
                if self.by_type[t][s]:
                    by_type[t, s] += self.by_type[t][s]
        return 0


include "_fastmrt_td2.pxi"
include "_fastmrt_bgp4mp.pxi"
include "_fastmrt_keys.pxi"
