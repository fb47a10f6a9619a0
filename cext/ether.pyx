# cython: language_level=3
"""Compiled Ethernet receive-side classification (HostEtherFilter).

`classify_host(pool, idx, offset, mac, drop_own, drop_other, out)` looks at
each frame's destination (and source) address once, sets the packet type
annotation as an Ethernet card's receive side would, and writes out[i] = 1
for frames to filter: too short for a header at `offset`, sent by `mac`
itself (with drop_own), or for another host (with drop_other).  Its
plain-Python twin, with the same signature, is ether_reference.py.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t

cnp.import_array()

DEF HOST = 0
DEF BROADCAST = 1
DEF MULTICAST = 2
DEF OTHERHOST = 3


def classify_host(pool, const uint32_t[:] idx, Py_ssize_t offset, const uint8_t[::1] mac,
                  bint drop_own, bint drop_other, uint8_t[::1] out):
    """Set ptype for every frame long enough; out[i] = 1 for frames to filter.
    Returns how many are filtered."""
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint8_t[::1] ptype = pool.ptype
    cdef Py_ssize_t i, k, n = idx.shape[0], filtered = 0
    cdef Py_ssize_t slot_size = data.shape[1]
    cdef uint32_t s
    cdef const uint8_t* p
    cdef bint me, bcast, own
    cdef uint8_t t
    if out.shape[0] < n or mac.shape[0] != 6:
        raise ValueError("out must hold one entry per packet and mac must have 6 bytes")
    with nogil:
        for i in range(n):
            s = idx[i]
            if length[s] < offset + 14 or off[s] + offset + 14 > slot_size:
                out[i] = 1
                filtered += 1
                continue
            p = &data[s, off[s] + offset]
            me = True
            bcast = True
            own = True
            for k in range(6):
                if p[k] != mac[k]:
                    me = False
                if p[k] != 0xFF:
                    bcast = False
                if p[6 + k] != mac[k]:
                    own = False
            if me:
                t = HOST
            elif bcast:
                t = BROADCAST
            elif p[0] & 1:
                t = MULTICAST
            else:
                t = OTHERHOST
            if drop_own and own:
                out[i] = 1          # as in Click, a frame filtered for its source keeps its type
                filtered += 1
                continue
            ptype[s] = t
            if drop_other and t == OTHERHOST:
                out[i] = 1
                filtered += 1
            else:
                out[i] = 0
    return filtered
