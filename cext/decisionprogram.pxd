# One packet through a decision program (the compiled form of IPFilter's,
# IPClassifier's and Classifier's patterns; elements/ip/ipfilter_compile.py
# and elements/standard/classifier.py build it, cext/ipfilter_reference.py
# describes its layout), shared (cimported) by cext/ipfilter.pyx (the
# elements' Matcher) and cext/ipinput.pyx (a router's fused input path).

from libc.stdint cimport int64_t, uint8_t, uint32_t

# The columns of one instruction (a row of 12 int64).
cdef enum:
    PROG_KIND = 0
    PROG_BASE = 1
    PROG_OFFSET = 2
    PROG_SIZE = 3
    PROG_SHIFT = 4
    PROG_WIDTH = 5
    PROG_MASK = 6
    PROG_OP = 7
    PROG_VALUE = 8
    PROG_NEED = 9
    PROG_YES = 10
    PROG_NO = 11
    PROG_COLUMNS = 12


cdef inline bint _compare(int64_t op, uint32_t v, uint32_t value) noexcept nogil:
    if op == 0:
        return v == value
    if op == 1:
        return v != value
    if op == 2:
        return v < value
    if op == 3:
        return v <= value
    if op == 4:
        return v > value
    return v >= value


cdef inline Py_ssize_t first_rule(const uint8_t* row, Py_ssize_t slot_size, Py_ssize_t start,
                                  Py_ssize_t end, Py_ssize_t h, const int64_t* prog,
                                  Py_ssize_t entry) noexcept nogil:
    """The first rule the packet matches (the number of rules for none): the
    packet is row[start:end] of a slot of slot_size bytes, its IP header
    (annotation nh) at h; prog is the program's rows, PROG_COLUMNS apiece."""
    cdef Py_ssize_t pc, k, ihl4, have, pos
    cdef Py_ssize_t have_ip, have_t, tstart, have_pkt
    cdef uint32_t raw, v
    cdef bint r
    cdef const int64_t* ins
    cdef const uint8_t* p
    if h < start or end > slot_size:
        have_ip = 0                  # no trustworthy IP bytes at all
    else:
        have_ip = end - h
    have_pkt = end - start if end <= slot_size else 0
    if have_ip >= 1:
        ihl4 = (row[h] & 0x0F) * 4
        tstart = h + ihl4
        have_t = end - tstart
    else:
        tstart = 0
        have_t = -1
    pc = entry
    while pc >= 0:
        ins = prog + pc * PROG_COLUMNS
        if ins[PROG_BASE] == 0:
            have, pos = have_ip, h
        elif ins[PROG_BASE] == 1:
            have, pos = have_t, tstart
        else:                        # BASE 2: from the packet's first byte (Classifier)
            have, pos = have_pkt, start
        if have < ins[PROG_NEED]:
            r = False
        elif ins[PROG_KIND] == 1:
            r = True
        else:
            pos = pos + ins[PROG_OFFSET]
            p = row + pos
            raw = p[0]
            for k in range(1, ins[PROG_SIZE]):
                raw = (raw << 8) | p[k]
            v = ((raw >> ins[PROG_SHIFT]) & <uint32_t>ins[PROG_WIDTH]) & <uint32_t>ins[PROG_MASK]
            r = _compare(ins[PROG_OP], v, <uint32_t>ins[PROG_VALUE])
        pc = ins[PROG_YES] if r else ins[PROG_NO]
    return -1 - pc
