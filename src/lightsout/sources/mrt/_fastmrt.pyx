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
"""

from cpython.array cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
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


cdef inline unsigned int u16(const unsigned char *p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline unsigned int u32(const unsigned char *p) noexcept nogil:
    return (<unsigned int>p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]


cdef struct Origin:
    int kind        # 0: no AS path (), 1: one AS, 2: an AS_SET (members at buf[at], count, width)
    unsigned int asn
    Py_ssize_t at
    int count
    int width


cdef int path_origin(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int width, Origin *out) noexcept:
    """decode._path_origin: 0 ok, -1 malformed."""
    cdef int last_type = 0, count, seg_type
    cdef Py_ssize_t last_at = 0, seg_end
    cdef int last_count = 0
    while pos < end:
        if pos + 2 > end:
            return -1
        seg_type = b[pos]
        count = b[pos + 1]
        seg_end = pos + 2 + count * width
        if seg_end > end:
            return -1
        if count and (seg_type == 1 or seg_type == 2):
            last_type = seg_type
            last_at = pos + 2
            last_count = count
        pos = seg_end
    out.width = width
    if not last_count:
        out.kind = 0
        return 0
    if last_type == 2:
        out.kind = 1
        if width == 4:
            out.asn = u32(b + last_at + (last_count - 1) * 4)
        else:
            out.asn = u16(b + last_at + (last_count - 1) * 2)
        return 0
    out.kind = 2
    out.at = last_at
    out.count = last_count
    return 0


cdef inline unsigned int member(const unsigned char *b, Origin *o, int i) noexcept:
    if o.width == 4:
        return u32(b + o.at + i * 4)
    return u16(b + o.at + i * 2)


cdef int origin_has_trans(const unsigned char *b, Origin *o) noexcept:
    cdef int i
    if o.kind == 1:
        return o.asn == AS_TRANS
    if o.kind == 2:
        for i in range(o.count):
            if member(b, o, i) == AS_TRANS:
                return 1
    return 0


cdef class FastPath:
    """Decodes runs of common records straight into the collector's tables (see the module doc)."""

    cdef object decoder, state, counts, at, ids, tables, sizes, peaks, grow
    cdef list keys, origin_sets
    cdef dict origin_ids
    cdef Py_ssize_t capacity
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

    cdef Py_ssize_t _intern(self, object key) except -1:
        """RouteTables.prefix_id for a key that is not interned yet."""
        cdef Py_ssize_t pid = len(self.keys)
        self.ids[key] = pid
        self.keys.append(key)
        if pid >= self.capacity:
            self.grow(pid + 1)
            self.capacity = self.state.capacity
        return pid

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
                    r = self._td2(d + off + HEADER_LEN, length, ts, sub)
                elif typ == T_BGP4MP:
                    r = self._bgp4mp(d + off + HEADER_LEN, length, ts, sub)
                elif typ == T_BGP4MP_ET and length >= 4:
                    r = self._bgp4mp(d + off + HEADER_LEN + 4, length - 4, ts, sub)
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

    # -- TABLE_DUMP_V2 ---------------------------------------------------------------------------

    cdef int _td2(self, const unsigned char *b, Py_ssize_t size, long long ts, unsigned int sub) except -1:
        cdef int afi, addr_len, plen, count, i, slot, index, skip
        cdef Py_ssize_t at, pos, attr_at, alen, p, vend, vlen
        cdef unsigned int flags, code
        cdef Origin o
        cdef unsigned int oid, *t
        cdef array table
        cdef PyObject *hit
        cdef Py_ssize_t cpid
        if sub == 2 or sub == 3 or sub == 8 or sub == 9:
            afi, addr_len = 1, 4
        elif sub == 4 or sub == 5 or sub == 10 or sub == 11:
            afi, addr_len = 2, 16
        else:
            return 1  # the peer index table, RIB_GENERIC: Python
        peers = self.decoder.td2_peers
        if peers is None or size < 5:
            return 1
        plen = b[4]
        at = 5 + ((plen + 7) >> 3)
        if plen > addr_len * 8 or at + 2 > size:
            return 1
        if plen & 7 and b[at - 1] & (0xFF >> (plen & 7)):
            return 1  # host bits set: Python clears and counts them
        if peers is not self.td2_list:
            self._td2_map(peers)
        count = u16(b + at)
        pos = at + 2
        skip = 10 if sub >= 8 else 6
        # validate every entry and decode its origin before applying anything
        for i in range(count):
            if pos + skip + 2 > size:
                return 1
            index = u16(b + pos)
            alen = u16(b + pos + skip)
            attr_at = pos + skip + 2
            pos = attr_at + alen
            if pos > size or index >= self.td2_n:
                return 1
            o.kind = 0
            o.width = 4
            p = attr_at
            while p < pos:  # decode._as_path_only
                if p + 3 > pos:
                    return 1
                flags = b[p]
                code = b[p + 1]
                if flags & 0x10:
                    if p + 4 > pos:
                        return 1
                    vlen = u16(b + p + 2)
                    p += 4
                else:
                    vlen = b[p + 2]
                    p += 3
                vend = p + vlen
                if vend > pos:
                    return 1
                if code == 2:
                    if path_origin(b, p, vend, 4, &o):
                        return 1
                    break
                p = vend
            self.entry_oid[i] = self._oid(b, &o)
            self.entry_index[i] = index
        self._at(ts)
        key = self._key(b, 4, at, afi == 2)
        hit = PyDict_GetItem(self.ids, key)
        cpid = self._intern(key) if hit == NULL else <object>hit
        for i in range(count):
            slot = self.td2_slot[self.entry_index[i]]
            if slot < 0:
                slot = self.td2_slot[self.entry_index[i]] = self._slot(peers[self.entry_index[i]])
            table = <array>self.slot_tables[slot]
            t = table.data.as_uints
            if not t[cpid]:
                self.slot_size[slot] += 1
                self.slot_dirty[slot] = 1
            t[cpid] = self.entry_oid[i]
        self.n_route_records += 1
        self.n_ann += count
        return 0

    cdef int _td2_map(self, list peers) except -1:
        cdef int i
        free(self.td2_slot)
        self.td2_n = len(peers)
        self.td2_slot = <int *>malloc((self.td2_n + 1) * sizeof(int))
        if not self.td2_slot:
            raise MemoryError()
        names = {}
        for i in range(self.nslots):
            names[self.slot_names[i]] = i
        for i in range(self.td2_n):
            self.td2_slot[i] = names.get(peers[i], -1)
        self.td2_list = peers
        return 0

    # -- BGP4MP ----------------------------------------------------------------------------------

    cdef int _bgp4mp(self, const unsigned char *b, Py_ssize_t size, long long ts, unsigned int sub) except -1:
        cdef int asn_len, afi, addr_len, msg_type
        cdef Py_ssize_t fixed, peer_at, after, msg_len
        cdef unsigned int old, new
        if sub == 2 or sub == 3:
            return 1
        asn_len = 4 if (sub == 4 or sub == 5 or sub == 7 or sub == 9 or sub == 11) else 2
        fixed = 2 * asn_len + 4
        if size < fixed:
            return 1
        afi = u16(b + 2 * asn_len + 2)
        if afi == 1:
            addr_len = 4
        elif afi == 2:
            addr_len = 16
        else:
            return 1
        peer_at = fixed
        after = fixed + 2 * addr_len
        if sub == 0 or sub == 5:
            if size != after + 4:
                return 1
            old = u16(b + after)
            new = u16(b + after + 2)
            if old == ESTABLISHED and new != ESTABLISHED:
                return 1  # a session going down drops the peer's table: Python
            self.n_state += 1
            return 0
        if not (sub == 1 or sub == 4 or 6 <= sub <= 11):
            return 1
        if size < after + 19 or memcmp(b + after, MARKER, 16) != 0:
            return 1
        msg_len = u16(b + after + 16)
        msg_type = b[after + 18]
        if msg_len != size - after:
            return 1
        if sub == 6 or sub == 7 or sub == 10 or sub == 11:
            self.n_local += 1
            return 0
        if msg_type != 2:
            self.n_other += 1
            return 0
        return self._update(b, after + 19, size, asn_len, sub >= 8, ts, b + peer_at, addr_len)

    cdef int _prefixes(self, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, char v6, bint addpath,
                       Py_ssize_t *nspans) except -1:
        """decode._prefixes into the span arrays; 1 to leave the record to Python."""
        cdef int max_len = 128 if v6 else 32
        cdef int plen
        cdef Py_ssize_t nxt, k
        self._spans(nspans[0] + (end - pos) + 1)
        k = nspans[0]
        while pos < end:
            if addpath:
                pos += 4
                if pos >= end:
                    return 1
            plen = b[pos]
            if plen > max_len:
                return 1
            nxt = pos + 1 + ((plen + 7) >> 3)
            if nxt > end:
                return 1  # a cut-short last prefix: Python reads the ones before it and counts it
            if plen & 7 and b[nxt - 1] & (0xFF >> (plen & 7)):
                return 1  # host bits set: Python clears and counts them
            self.span_at[k] = pos
            self.span_end[k] = nxt
            self.span_v6[k] = v6
            k += 1
            pos = nxt
        nspans[0] = k
        return 0

    cdef int _update(self, const unsigned char *b, Py_ssize_t start, Py_ssize_t end, int width, bint addpath,
                     long long ts, const unsigned char *peer_raw, int addr_len) except -1:
        cdef Py_ssize_t wlen, attr_at, alen, attr_end, p, vlen, value, stop, nlri
        cdef Py_ssize_t nw = 0, na = 0, total = 0, k
        cdef Py_ssize_t span[4][2]  # last value span of attribute 2, 14, 15, 17
        cdef unsigned int flags, code, afi, safi
        cdef int which, slot, ci
        cdef Origin o, o4
        cdef unsigned int oid
        cdef unsigned int *t
        cdef array table
        cdef long long sz
        if start + 4 > end:
            return 1
        wlen = u16(b + start)
        attr_at = start + 2 + wlen
        if attr_at + 2 > end:
            return 1
        for which in range(4):
            span[which][0] = -1
        # withdrawn: [0, nw); the MP_UNREACH ones are added after the MP_REACH pass below, so the
        # spans are laid out as: withdrawn field, MP_REACH, MP_UNREACH, NLRI field, then reordered
        if self._prefixes(b, start + 2, attr_at, 0, addpath, &total):
            return 1
        nw = total
        alen = u16(b + attr_at)
        attr_end = attr_at + 2 + alen
        if attr_end > end:
            return 1
        p = attr_at + 2
        while p < attr_end:
            if p + 3 > attr_end:
                return 1
            flags = b[p]
            code = b[p + 1]
            if flags & 0x10:
                if p + 4 > attr_end:
                    return 1
                vlen = u16(b + p + 2)
                value = p + 4
            else:
                vlen = b[p + 2]
                value = p + 3
            if value + vlen > attr_end:
                return 1
            which = 0 if code == 2 else 1 if code == 14 else 2 if code == 15 else 3 if code == 17 else -1
            if which >= 0:
                span[which][0] = value
                span[which][1] = value + vlen
            p = value + vlen
        # MP_REACH (announced, first) then MP_UNREACH (withdrawn, after the field's)
        cdef Py_ssize_t reach_at = total, reach_n = 0, unreach_at, unreach_n = 0
        for which in (1, 2):
            value = span[which][0]
            stop = span[which][1]
            if value < 0 or stop - value < 3:
                continue
            afi = u16(b + value)
            safi = b[value + 2]
            nlri = value + 3
            if which == 1:
                if stop - value < 5:
                    return 1
                nlri = value + 4 + b[value + 3] + 1
                if nlri > stop:
                    return 1
            if (afi == 1 or afi == 2) and (safi == 1 or safi == 2):
                k = total
                if self._prefixes(b, nlri, stop, afi == 2, addpath, &total):
                    return 1
                if which == 1:
                    reach_n = total - k
                else:
                    unreach_n = total - k
        unreach_at = reach_at + reach_n
        cdef Py_ssize_t nlri_at = total
        if self._prefixes(b, attr_end, end, 0, addpath, &total):
            return 1
        na = reach_n + (total - nlri_at)
        nw = nw + unreach_n
        o.kind = 0
        o.width = width
        if na:
            if span[0][0] >= 0 and path_origin(b, span[0][0], span[0][1], width, &o):
                return 1
            if width == 2 and span[3][0] >= 0 and origin_has_trans(b, &o):
                o4.kind = 0
                if path_origin(b, span[3][0], span[3][1], 4, &o4):
                    return 1
                if o4.kind:
                    o = o4
        if not nw and not na:
            self.n_other += 1
            return 0
        self.n_route_records += 1
        self.n_wd += nw
        self.n_ann += na
        self._at(ts)
        raw = PyBytes_FromStringAndSize(<const char *>peer_raw, addr_len)
        got = self.peer_slot.get(raw)
        if got is None:
            slot = self._slot(self.peer_name(raw))
            self.peer_slot[raw] = slot
        else:
            slot = got
        table = <array>self.slot_tables[slot]
        t = table.data.as_uints
        sz = self.slot_size[slot]
        ids = self.ids
        cdef PyObject *hit
        cdef Py_ssize_t pid
        # withdrawals: the withdrawn field [0, nw - unreach_n), then MP_UNREACH
        for ci in range(2):
            if ci == 0:
                p, k = 0, nw - unreach_n
            else:
                p, k = unreach_at, unreach_at + unreach_n
            while p < k:
                key = self._key(b, self.span_at[p], self.span_end[p], self.span_v6[p])
                hit = PyDict_GetItem(ids, key)
                if hit != NULL:
                    pid = <object>hit
                    if t[pid]:
                        t[pid] = 0
                        sz -= 1
                p += 1
        if na:
            oid = self._oid(b, &o)
            for ci in range(2):
                if ci == 0:
                    p, k = reach_at, reach_at + reach_n
                else:
                    p, k = nlri_at, total
                while p < k:
                    key = self._key(b, self.span_at[p], self.span_end[p], self.span_v6[p])
                    hit = PyDict_GetItem(ids, key)
                    if hit == NULL:
                        pid = self._intern(key)
                        table = <array>self.slot_tables[slot]  # may have grown
                        t = table.data.as_uints
                    else:
                        pid = <object>hit
                    if not t[pid]:
                        sz += 1
                    t[pid] = oid
                    p += 1
        self.slot_size[slot] = sz
        self.slot_dirty[slot] = 1
        if sz > self.slot_peak[slot]:
            self.slot_peak[slot] = sz
        return 0


def padded_keys(list keys, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t width):
    """``b"".join(k.ljust(width, b"\\0") for k in keys[lo:hi])`` (RouteTables.prefix_info), in C."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, (hi - lo) * width)
    cdef char *dst = PyBytes_AS_STRING(out)
    cdef Py_ssize_t i, j, n
    cdef bytes key
    cdef const char *src
    for i in range(lo, hi):
        key = <bytes>keys[i]
        n = PyBytes_GET_SIZE(key)
        if n > width:
            raise ValueError("prefix key longer than its row")
        src = PyBytes_AS_STRING(key)
        for j in range(n):
            dst[j] = src[j]
        for j in range(n, width):
            dst[j] = 0
        dst += width
    return out


def length_prefixed(list keys):
    """``b"".join(bytes((len(k),)) + k for k in keys)`` (RouteTables.dump), in C."""
    cdef Py_ssize_t total = 0, n, j
    cdef bytes key
    for key in keys:
        n = PyBytes_GET_SIZE(key)
        if n > 255:
            raise ValueError("prefix key longer than 255 bytes")
        total += 1 + n
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef char *dst = PyBytes_AS_STRING(out)
    cdef const char *src
    for key in keys:
        n = PyBytes_GET_SIZE(key)
        dst[0] = <char>n
        src = PyBytes_AS_STRING(key)
        for j in range(n):
            dst[1 + j] = src[j]
        dst += 1 + n
    return out


def split_length_prefixed(bytes blob):
    """The keys :func:`length_prefixed` joined; ValueError if the last one is cut short."""
    cdef const unsigned char *b = <const unsigned char *>PyBytes_AS_STRING(blob)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(blob), pos = 0, size
    cdef list out = []
    while pos < n:
        size = b[pos]
        if pos + 1 + size > n:
            raise ValueError("prefix keys cut short")
        out.append(PyBytes_FromStringAndSize(<const char *>b + pos + 1, size))
        pos += 1 + size
    return out
