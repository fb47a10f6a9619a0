# HostEtherFilter's reading of one Ethernet header, shared (cimported) by
# cext/ether.pyx (the element's kernel) and cext/ipinput.pyx (a router's
# fused input path): the packet type its destination gives it.

from libc.stdint cimport uint8_t

# Click's PACKET_TYPE_ANNO values (vforward.packet.HOST ...).
cdef enum:
    PT_HOST = 0
    PT_BROADCAST = 1
    PT_MULTICAST = 2
    PT_OTHERHOST = 3


cdef inline uint8_t packet_type(const uint8_t* eth, const uint8_t* mac, bint* from_mac) noexcept nogil:
    """The type of the frame whose Ethernet header is at eth, for a host whose
    address is mac[0:6]: PT_HOST (to mac), PT_BROADCAST (to ff:ff:ff:ff:ff:ff),
    PT_MULTICAST (another group address) or PT_OTHERHOST; from_mac[0] is
    whether its source is mac."""
    cdef bint me = True, bcast = True, own = True
    cdef int k
    for k in range(6):
        if eth[k] != mac[k]:
            me = False
        if eth[k] != 0xFF:
            bcast = False
        if eth[6 + k] != mac[k]:
            own = False
    from_mac[0] = own
    if me:
        return PT_HOST
    if bcast:
        return PT_BROADCAST
    if eth[0] & 1:
        return PT_MULTICAST
    return PT_OTHERHOST
