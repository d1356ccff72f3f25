# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Countries of many IPv4 addresses at once from a MaxMind DB, in C (the optional extension of
:mod:`lightsout.attribution.geo`; without it the same walk runs with numpy and the records are read
in Python, with the same result: tests/test_mrt_fast.py compares them).

:class:`CountryWalker` walks the database's search tree for every address (MaxMind DB format,
https://maxmind.github.io/MaxMind-DB/: 24/28/32-bit records) and reads only the ``country`` /
``registered_country`` ``iso_code`` of each distinct data record it reaches, as
``geo._DataSection`` does. A full BGP table (~500k prefixes) reaches ~80-90k distinct records;
reading them in Python took ~1 s and the numpy walk ~0.5 s, a third of an update file's ingest.
"""

from libc.string cimport memcmp


cdef struct Ctl:
    int kind
    Py_ssize_t size  # or the pointer's target (an offset in the file)
    Py_ssize_t off   # where the payload starts


cdef class CountryWalker:
    """The search tree and data section of one database; caches per record and per country map."""

    cdef const unsigned char[::1] buf
    cdef const unsigned char *b
    cdef Py_ssize_t n
    cdef Py_ssize_t start  # offset of the data section in the file
    cdef dict records  # search-tree pointer -> iso code (str) or None
    cdef dict maps  # country map offset -> iso code (str) or None

    def __init__(self, const unsigned char[::1] raw, Py_ssize_t data_start):
        self.buf = raw  # the file (an mmap or bytes), kept alive with its pointer
        self.n = raw.shape[0]
        self.b = &raw[0] if self.n else NULL
        self.start = data_start
        self.records = {}
        self.maps = {}

    cdef Ctl _control(self, Py_ssize_t off) except *:
        cdef Ctl c
        cdef const unsigned char *b = self.b
        cdef unsigned int byte, ss, v
        if off < 0 or off + 5 > self.n:
            raise ValueError(f"MaxMind DB data offset {off} out of range")
        byte = b[off]
        off += 1
        c.kind = byte >> 5
        if c.kind == 0:
            c.kind = 7 + b[off]
            off += 1
        if c.kind == 1:
            ss = (byte >> 3) & 3
            v = byte & 7
            if ss == 0:
                c.size = (v << 8) | b[off]
            elif ss == 1:
                c.size = ((v << 16) | (b[off] << 8) | b[off + 1]) + 2048
            elif ss == 2:
                c.size = ((<Py_ssize_t>v << 24) | (b[off] << 16) | (b[off + 1] << 8) | b[off + 2]) + 526336
            else:
                c.size = (<Py_ssize_t>b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]
            c.size += self.start
            c.off = off + ss + 1
            return c
        c.size = byte & 0x1F
        if c.size == 29:
            c.size = 29 + b[off]
            off += 1
        elif c.size == 30:
            c.size = 285 + ((b[off] << 8) | b[off + 1])
            off += 2
        elif c.size == 31:
            c.size = 65821 + ((<Py_ssize_t>b[off] << 16) | (b[off + 1] << 8) | b[off + 2])
            off += 3
        c.off = off
        return c

    cdef Py_ssize_t _skip(self, Py_ssize_t off) except -1:
        cdef Ctl c = self._control(off)
        cdef Py_ssize_t i
        if c.kind == 1 or c.kind == 14:  # pointer (payload elsewhere), boolean (in the size)
            return c.off
        if c.kind == 7:
            off = c.off
            for i in range(2 * c.size):
                off = self._skip(off)
            return off
        if c.kind == 11:
            off = c.off
            for i in range(c.size):
                off = self._skip(off)
            return off
        return c.off + c.size

    cdef Ctl _string(self, Py_ssize_t off) except *:
        """The string at ``off`` (following a pointer): kind 2, its bytes at .size.. with length
        in .kind's place is awkward, so: .off = where its bytes start, .size = their length, and
        .kind = the offset after the string as it appears at ``off``."""
        cdef Ctl c = self._control(off)
        cdef Ctl t
        if c.kind == 1:
            t = self._control(c.size)
            t.kind = <int>c.off
            return t
        c.kind = <int>(c.off + c.size)
        return c

    cdef bint _is(self, Ctl s, const char *text, Py_ssize_t length) except -1:
        if s.size != length or s.off + length > self.n:
            return False
        return memcmp(self.b + s.off, text, length) == 0

    cdef Ctl _map(self, Py_ssize_t off) except *:
        cdef Ctl c = self._control(off)
        if c.kind == 1:
            c = self._control(c.size)
        if c.kind != 7:
            c.size = 0
        return c

    cdef Py_ssize_t _value(self, Py_ssize_t at, const char *name, Py_ssize_t length) except -2:
        """Where the value of key ``name`` starts in the map at ``at`` (a pointer to one is
        followed), -1 when the map has no such key: the one walk of a map's keys."""
        cdef Ctl m = self._map(at)
        cdef Ctl key
        cdef Py_ssize_t pos = m.off, i
        for i in range(m.size):
            key = self._string(pos)
            pos = key.kind
            if self._is(key, name, length):
                return pos
            pos = self._skip(pos)
        return -1

    cdef object _iso_code(self, Py_ssize_t off):
        """The ``iso_code`` of the country map at ``off``, cached per map."""
        cdef Ctl c = self._control(off)
        cdef Py_ssize_t at = c.size if c.kind == 1 else off
        cdef Py_ssize_t pos
        cdef Ctl val
        got = self.maps.get(at, self)
        if got is not self:
            return got
        code = None
        pos = self._value(at, b"iso_code", 8)
        if pos >= 0:
            val = self._string(pos)
            if val.off + val.size > self.n:
                raise ValueError("MaxMind DB string out of range")
            code = (<bytes>self.b[val.off : val.off + val.size]).decode()
        self.maps[at] = code
        return code

    cdef object country(self, Py_ssize_t pointer):
        """The code of the record ``pointer`` bytes into the data section (geo._DataSection.country):
        its ``country``, else its ``registered_country`` (only then is the map walked again)."""
        cdef Py_ssize_t at = self.start + pointer
        cdef Py_ssize_t pos = self._value(at, b"country", 7)
        code = self._iso_code(pos) if pos >= 0 else None
        if code is None:
            pos = self._value(at, b"registered_country", 18)
            if pos >= 0:
                code = self._iso_code(pos)
        return code

    def country_indexes_v4(
        self, const unsigned char[:, ::1] nodes, int record_size, long long node_count, long long start,
        const unsigned int[::1] addresses, list codes, dict index, int[::1] out,
    ):
        """``out[i]``: index into ``codes`` of the country of ``addresses[i]`` (new codes appended,
        ``index`` maps code -> index), -1 where the database has none."""
        cdef Py_ssize_t i, k = addresses.shape[0]
        cdef long long node, last_node = -1
        cdef unsigned int addr, prev = 0
        cdef int bit, depth, prev_depth = -1, last_out = -1
        cdef const unsigned char *r
        cdef long long rows = nodes.shape[0]
        cdef long long path[33]  # path[d]: the node after the first d bits of the previous address
        cdef dict records = self.records
        if record_size not in (24, 28, 32) or nodes.shape[1] != record_size // 4:
            raise ValueError(f"MaxMind DB record size {record_size}")
        for i in range(k):
            addr = addresses[i]
            # resume from the deepest node the previous address's walk shares with this one
            depth = 0
            if prev_depth >= 0:
                depth = _shared(addr, prev)
                if depth > prev_depth:
                    depth = prev_depth
            node = path[depth] if prev_depth >= 0 else start
            path[depth] = node
            while depth < 32 and node < node_count:
                if node >= rows:
                    raise ValueError("MaxMind DB search tree node out of range")
                r = &nodes[node, 0]
                bit = 31 - depth
                if (addr >> bit) & 1:
                    if record_size == 24:
                        node = (r[3] << 16) | (r[4] << 8) | r[5]
                    elif record_size == 28:
                        node = (<long long>(r[3] & 0x0F) << 24) | (r[4] << 16) | (r[5] << 8) | r[6]
                    else:
                        node = (<long long>r[4] << 24) | (r[5] << 16) | (r[6] << 8) | r[7]
                else:
                    if record_size == 24:
                        node = (r[0] << 16) | (r[1] << 8) | r[2]
                    elif record_size == 28:
                        node = (<long long>(r[3] >> 4) << 24) | (r[0] << 16) | (r[1] << 8) | r[2]
                    else:
                        node = (<long long>r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
                depth += 1
                path[depth] = node
            prev, prev_depth = addr, depth
            if node == last_node:
                out[i] = last_out
                continue
            last_node = node
            if node <= node_count:  # == node_count: no data; < node_count: ran out of bits
                last_out = out[i] = -1
                continue
            cc = records.get(node, records)
            if cc is records:
                cc = records[node] = self.country(node - node_count - 16)
            if cc is None:
                last_out = out[i] = -1
                continue
            got = index.get(cc)
            if got is None:
                got = index[cc] = len(codes)
                codes.append(cc)
            last_out = out[i] = got


cdef inline int _shared(unsigned int a, unsigned int b) noexcept:
    """Leading bits ``a`` and ``b`` have in common."""
    cdef unsigned int x = a ^ b
    cdef int n = 0
    if x == 0:
        return 32
    while not (x & 0x80000000u):
        x <<= 1
        n += 1
    return n


cdef inline long long _child(const unsigned char *r, int record_size, bint right) noexcept:
    """The left or right record of a search-tree node (24, 28 or 32 bits)."""
    if right:
        if record_size == 24:
            return (r[3] << 16) | (r[4] << 8) | r[5]
        if record_size == 28:
            return (<long long>(r[3] & 0x0F) << 24) | (r[4] << 16) | (r[5] << 8) | r[6]
        return (<long long>r[4] << 24) | (r[5] << 16) | (r[6] << 8) | r[7]
    if record_size == 24:
        return (r[0] << 16) | (r[1] << 8) | r[2]
    if record_size == 28:
        return (<long long>(r[3] >> 4) << 24) | (r[0] << 16) | (r[1] << 8) | r[2]
    return (<long long>r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]


def country_indexes_v6(
    CountryWalker walker, const unsigned char[:, ::1] nodes, int record_size, long long node_count,
    const unsigned char[:, ::1] addresses, list codes, dict index, int[::1] out,
):
    """``out[i]``: index into ``codes`` of the country of the IPv6 address ``addresses[i]`` (16
    bytes, network order), walked from the root of an IPv6 database's tree (IPv4-mapped and 6to4
    space lead where the database points them); new codes appended, -1 where it has none. A
    table's IPv6 prefixes are ~10-25 % of its IPv4 ones, so no resuming between walks."""
    cdef Py_ssize_t i, k = addresses.shape[0]
    cdef long long node, rows = nodes.shape[0]
    cdef int depth
    cdef const unsigned char *a
    cdef dict records = walker.records
    if record_size not in (24, 28, 32) or nodes.shape[1] != record_size // 4:
        raise ValueError(f"MaxMind DB record size {record_size}")
    if k and addresses.shape[1] != 16:
        raise ValueError("IPv6 addresses must be rows of 16 bytes")
    for i in range(k):
        a = &addresses[i, 0]
        node = 0
        depth = 0
        while depth < 128 and node < node_count:
            if node >= rows:
                raise ValueError("MaxMind DB search tree node out of range")
            node = _child(&nodes[node, 0], record_size, (a[depth >> 3] >> (7 - (depth & 7))) & 1)
            depth += 1
        if node <= node_count:  # == node_count: no data; < node_count: ran out of bits
            out[i] = -1
            continue
        cc = records.get(node, records)
        if cc is records:
            cc = records[node] = walker.country(node - node_count - 16)
        if cc is None:
            out[i] = -1
            continue
        got = index.get(cc)
        if got is None:
            got = index[cc] = len(codes)
            codes.append(cc)
        out[i] = got
