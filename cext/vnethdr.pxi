# Included (textually) by the kernels that read and write struct virtio_net_hdr
# (tapio.pyx for TAP/TUN with IFF_VNET_HDR, afpacket.pyx with PACKET_VNET_HDR):
# its fields, in native byte order, to and from the pool's offload annotations.

DEF VNET_HDR_LEN = 10
DEF NEEDS_CSUM = 1
DEF GSO_TCPV4 = 1
DEF GSO_TCPV6 = 4
DEF GSO_UDP_L4 = 5


cdef inline uint16_t _le16(const uint8_t* p) noexcept nogil:
    return <uint16_t>(p[0] | (p[1] << 8))


cdef inline void _put_le16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>v
    p[1] = <uint8_t>(v >> 8)


cdef inline void _take_vnet(const uint8_t* hdr, uint32_t start, Py_ssize_t l2_len,
                            const uint8_t* frame, Py_ssize_t flen, uint16_t* cstart,
                            uint8_t* coff, uint8_t* gtype, uint16_t* gsize,
                            uint16_t* nh) noexcept nogil:
    """Offload annotations of a frame placed at slot position `start` from its header;
    nh goes l2_len past the start (4 more behind an 802.1Q tag) when there is state."""
    cdef uint32_t cs, co
    cdef Py_ssize_t l2
    if not (hdr[0] & NEEDS_CSUM or hdr[1] & 0x7F):
        return
    cs = start + _le16(hdr + 6)
    co = _le16(hdr + 8)
    if hdr[0] & NEEDS_CSUM:
        cstart[0] = <uint16_t>(cs if cs <= 0xFFFF else 0xFFFF)
        coff[0] = <uint8_t>(co if co <= 0xFF else 0xFF)
    if hdr[1] & 0x7F:
        gtype[0] = hdr[1]
        gsize[0] = _le16(hdr + 4)
    l2 = l2_len
    if l2 == 14 and flen >= 18 and frame[12] == 0x81 and frame[13] == 0:
        l2 = 18
    nh[0] = <uint16_t>(start + l2)


cdef inline int _vnet_header(uint8_t* hdr, const uint8_t* frame, uint32_t length,
                             uint32_t cs_abs, uint32_t offset, uint32_t co,
                             uint8_t gtype, uint32_t gsize) noexcept nogil:
    """Fill hdr for one frame; 0, or EINVAL when the annotations cannot be sent."""
    cdef uint32_t cs, hdr_len
    hdr[0] = 0
    hdr[1] = 0
    _put_le16(hdr + 2, 0)
    _put_le16(hdr + 4, 0)
    _put_le16(hdr + 6, 0)
    _put_le16(hdr + 8, 0)
    if cs_abs == 0:
        return EINVAL if gsize != 0 else 0
    if cs_abs < offset:
        return EINVAL
    cs = cs_abs - offset
    if cs + co + 2 > length:
        return EINVAL
    hdr_len = cs + co + 2
    if gsize != 0:
        if gtype & 0x7F == GSO_TCPV4 or gtype & 0x7F == GSO_TCPV6:
            if cs + 13 > length:
                return EINVAL
            hdr_len = cs + (frame[cs + 12] >> 4) * 4
        elif gtype & 0x7F == GSO_UDP_L4:
            hdr_len = cs + 8
        else:
            return EINVAL
        if hdr_len > length:
            return EINVAL
        hdr[1] = gtype
        _put_le16(hdr + 4, gsize)
    hdr[0] = NEEDS_CSUM
    _put_le16(hdr + 2, hdr_len)
    _put_le16(hdr + 6, cs)
    _put_le16(hdr + 8, co)
    return 0
