# Included by _fastmrt.pyx: prefix keys laid end to end (RouteTables.prefix_info and dump).


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
