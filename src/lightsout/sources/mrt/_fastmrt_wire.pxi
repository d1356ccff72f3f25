# Included by _fastmrt.pyx: wire helpers (big-endian fields, the origin of an AS_PATH).


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
