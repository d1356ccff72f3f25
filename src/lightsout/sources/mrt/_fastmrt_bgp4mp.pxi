# Included by _fastmrt.pyx: BGP4MP / BGP4MP_ET messages and UPDATEs (decode.Decoder._bgp4mp in C).


cdef int _bgp4mp(FastPath self, const unsigned char *b, Py_ssize_t size, long long ts,
                 unsigned int sub) except -1:
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
    return _update(self, b, after + 19, size, asn_len, sub >= 8, ts, b + peer_at, addr_len)


cdef int _prefixes(FastPath self, const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, char v6,
                   bint addpath, Py_ssize_t *nspans) except -1:
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


cdef int _update(FastPath self, const unsigned char *b, Py_ssize_t start, Py_ssize_t end, int width,
                 bint addpath, long long ts, const unsigned char *peer_raw, int addr_len) except -1:
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
    if _prefixes(self, b, start + 2, attr_at, 0, addpath, &total):
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
            if _prefixes(self, b, nlri, stop, afi == 2, addpath, &total):
                return 1
            if which == 1:
                reach_n = total - k
            else:
                unreach_n = total - k
    unreach_at = reach_at + reach_n
    cdef Py_ssize_t nlri_at = total
    if _prefixes(self, b, attr_end, end, 0, addpath, &total):
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
    cdef Py_ssize_t pid, capacity
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
                    self.dirty[pid] = 1
                    sz -= 1
            p += 1
    if na:
        oid = self._oid(b, &o)
        capacity = self.capacity
        for ci in range(2):
            if ci == 0:
                p, k = reach_at, reach_at + reach_n
            else:
                p, k = nlri_at, total
            while p < k:
                key = self._key(b, self.span_at[p], self.span_end[p], self.span_v6[p])
                pid = self._pid(key)
                if self.capacity != capacity:  # the tables grew
                    capacity = self.capacity
                    table = <array>self.slot_tables[slot]
                    t = table.data.as_uints
                if t[pid] != oid:
                    if not t[pid]:
                        sz += 1
                    t[pid] = oid
                    self.dirty[pid] = 1
                p += 1
    self.slot_size[slot] = sz
    self.slot_dirty[slot] = 1
    if sz > self.slot_peak[slot]:
        self.slot_peak[slot] = sz
    return 0
