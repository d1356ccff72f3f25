# Included by _fastmrt.pyx: TABLE_DUMP_V2 RIB entries (decode.Decoder._td2 in C).


cdef int _td2(FastPath self, const unsigned char *b, Py_ssize_t size, long long ts,
              unsigned int sub) except -1:
    cdef int afi, addr_len, plen, count, i, slot, index, skip
    cdef Py_ssize_t at, pos, attr_at, alen, p, vend, vlen
    cdef unsigned int flags, code
    cdef Origin o
    cdef unsigned int oid
    cdef unsigned int *t
    cdef array table
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
        _td2_map(self, peers)
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
    cpid = self._pid(key)
    for i in range(count):
        slot = self.td2_slot[self.entry_index[i]]
        if slot < 0:
            slot = self.td2_slot[self.entry_index[i]] = self._slot(peers[self.entry_index[i]])
        table = <array>self.slot_tables[slot]
        t = table.data.as_uints
        if t[cpid] != self.entry_oid[i]:
            if not t[cpid]:
                self.slot_size[slot] += 1
                self.slot_dirty[slot] = 1
            t[cpid] = self.entry_oid[i]
            self.dirty[cpid] = 1
    self.n_route_records += 1
    self.n_ann += count
    return 0

cdef int _td2_map(FastPath self, list peers) except -1:
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
