# cython: language_level=3
"""Compiled NAT hot path: the flow table and the per-batch header rewrite.

`FlowTable` is an open-addressing hash table (linear probing, backward-shift
deletion, no tombstones) from a flow key (protocol, source address, source
port, destination address, destination port) to a mapping entry: the
rewritten four-tuple, an output port, an integer value that names the flow
and direction to the caller, and the ones' complement checksum deltas of
the rewrite, computed once when the entry is inserted.

`rewrite_batch` (IPRewriter) and `rewrite_addr_batch` (IPAddrRewriter) take
a batch, find each packet's flow key, look it up and rewrite every hit in
place, IP header and transport header, with incremental checksum updates
(RFC 1624).  Packets the table cannot answer are only classified (a miss,
a fragment, a protocol without ports, a broken header); the caller decides
their fate.  `rewriter_reference.py` holds the plain-Python twin of all of
this; its module docstring states the conventions both follow, and the
tests demand identical bytes, columns and outputs from both.

Checksum arithmetic.  A checksum HC over data in which 16-bit words m_i
change to m_i' becomes HC' = ~(~HC + sum(~m_i + m_i')) (RFC 1624 eqn. 3,
applied once for all words).  Only words that really change contribute a
term, so a rewrite that changes nothing leaves every checksum alone, and
the result equals applying eqn. 3 word by word, which is what the
reference does.
"""
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

# -- packet codes ---------------------------------------------------------------
cdef enum:
    _HIT = 0            # rewritten by a mapping
    _ICMP_ERROR = 1     # an ICMP error quoting a mapped flow, translated back
    _MISS = 2           # could start a mapping (TCP, UDP, ICMP echo request) but has none
    _UNMAPPABLE = 3     # no ports to map by, or nothing may create one (echo reply, error)
    _FRAGMENT = 4       # a fragment other than the first
    _MALFORMED = 5      # no whole IP header at nh, or a truncated transport header
    _CODE_MASK = 0x0F
    _FIRST_FRAGMENT = 0x40   # flag: a HIT that is the first fragment of a fragmented datagram
    _PENDING = 0x80          # inside rewrite_batch only: found, to be rewritten in pass 3

HIT = _HIT
ICMP_ERROR = _ICMP_ERROR
MISS = _MISS
UNMAPPABLE = _UNMAPPABLE
FRAGMENT = _FRAGMENT
MALFORMED = _MALFORMED
CODE_MASK = _CODE_MASK
FIRST_FRAGMENT = _FIRST_FRAGMENT

# -- per-flow state bits (state[flow]) ---------------------------------------------
cdef enum:
    _FWD_DONE = 1       # FIN seen from the flow's initiator
    _REP_DONE = 2       # FIN seen from the reply side
    _FWD_DATA = 4       # TCP payload seen from the initiator
    _REP_DATA = 8       # TCP payload seen from the reply side
    _FWD_SEEN = 16      # any packet from the initiator
    _REP_SEEN = 32      # any packet from the reply side

FWD_DONE = _FWD_DONE
REP_DONE = _REP_DONE
FWD_DATA = _FWD_DATA
REP_DATA = _REP_DATA
FWD_SEEN = _FWD_SEEN
REP_SEEN = _REP_SEEN

cdef enum:
    _PROTO_ICMP = 1
    _PROTO_TCP = 6
    _PROTO_UDP = 17
    _ICMP_ECHOREPLY = 0
    _ICMP_UNREACH = 3
    _ICMP_SOURCEQUENCH = 4
    _ICMP_REDIRECT = 5
    _ICMP_ECHO = 8
    _ICMP_TIMXCEED = 11
    _ICMP_PARAMPROB = 12
    _TH_FIN = 0x01
    _TH_SYN = 0x02
    _TH_RST = 0x04
    _CHANGED_ADDRS = 1
    _CHANGED_PORTS = 2


# -- byte access and ones' complement arithmetic ------------------------------------
include "byteorder.pxi"


cdef inline uint32_t _word_delta(uint32_t old, uint32_t new) noexcept nogil:
    """The eqn. 3 term of one 16-bit word: ~m + m', or nothing when it does not change."""
    if old == new:
        return 0
    return (old ^ 0xFFFF) + new


cdef inline uint32_t _addr_delta(uint32_t old, uint32_t new) noexcept nogil:
    return _word_delta(old >> 16, new >> 16) + _word_delta(old & 0xFFFF, new & 0xFFFF)


cdef inline uint32_t _apply_delta(uint32_t cksum, uint64_t delta) noexcept nogil:
    """HC' = ~(~HC + delta); a zero delta leaves HC as it is."""
    if delta == 0:
        return cksum
    return _fold((cksum ^ 0xFFFF) + delta) ^ 0xFFFF


# -- the flow table -------------------------------------------------------------------
cdef struct Entry:
    uint32_t saddr
    uint32_t daddr
    uint16_t sport
    uint16_t dport
    uint8_t proto
    uint8_t used
    uint8_t changed
    uint8_t pad
    uint32_t nsaddr
    uint32_t ndaddr
    uint16_t nsport
    uint16_t ndport
    int32_t output
    int32_t value
    uint32_t ip_delta       # for the IP header checksum: changed address words
    uint32_t tp_delta       # for the transport checksum (ports, and addresses for TCP/UDP)


cdef extern from *:
    """
    /* splitmix64-style mixing of the 13 key bytes */
    static inline uint64_t vf_flow_hash(uint8_t proto, uint32_t saddr, uint32_t sport,
                                        uint32_t daddr, uint32_t dport) {
        uint64_t h = (((uint64_t)saddr << 32) | daddr) * 0x9E3779B97F4A7C15ULL;
        h ^= ((((uint64_t)sport << 24) | ((uint64_t)dport << 8) | proto)
              + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9ULL;
        return h ^ (h >> 29);
    }
    """
    uint64_t _hash "vf_flow_hash" (uint8_t proto, uint32_t saddr, uint32_t sport,
                                   uint32_t daddr, uint32_t dport) nogil


cdef extern from *:
    """
    #define vf_prefetch(p) __builtin_prefetch((const void *)(p), 0, 1)
    """
    void _prefetch "vf_prefetch" (const void* p) nogil


cdef class FlowTable:
    """Flow key -> mapping entry, in C: what rewrite_batch looks packets up in.

    Keys and addresses are host-byte-order integers.  `insert` refuses a
    key that is present; `value` is the caller's name for the entry (the
    IPRewriter table stores 2 * flow + direction).
    """
    cdef Entry* slots
    cdef Py_ssize_t mask
    cdef Py_ssize_t count
    cdef readonly int32_t max_value

    def __cinit__(self, Py_ssize_t capacity=1024):
        cdef Py_ssize_t cap = 16
        while cap < 2 * capacity:
            cap <<= 1
        self.slots = <Entry*>calloc(cap, sizeof(Entry))
        if self.slots == NULL:
            raise MemoryError("no memory for the flow table")
        self.mask = cap - 1
        self.count = 0
        self.max_value = -1

    def __dealloc__(self):
        free(self.slots)

    def __len__(self):
        return self.count

    @property
    def slot_count(self):
        """Slots allocated (the table doubles when half full)."""
        return self.mask + 1

    cdef inline Py_ssize_t _find(self, uint8_t proto, uint32_t saddr, uint32_t sport,
                                 uint32_t daddr, uint32_t dport) noexcept nogil:
        cdef Py_ssize_t i = <Py_ssize_t>(_hash(proto, saddr, sport, daddr, dport) & self.mask)
        cdef Entry* e
        while True:
            e = &self.slots[i]
            if not e.used:
                return -1
            if (e.saddr == saddr and e.daddr == daddr and e.sport == sport
                    and e.dport == dport and e.proto == proto):
                return i
            i = (i + 1) & self.mask

    cdef inline Entry* _lookup(self, uint8_t proto, uint32_t saddr, uint32_t sport,
                               uint32_t daddr, uint32_t dport) noexcept nogil:
        cdef Py_ssize_t i = self._find(proto, saddr, sport, daddr, dport)
        return NULL if i < 0 else &self.slots[i]

    cdef inline Py_ssize_t _home(self, uint8_t proto, uint32_t saddr, uint32_t sport,
                                 uint32_t daddr, uint32_t dport) noexcept nogil:
        """Where the key's probe starts; its slot is prefetched for a lookup soon after."""
        cdef Py_ssize_t i = <Py_ssize_t>(_hash(proto, saddr, sport, daddr, dport) & self.mask)
        _prefetch(&self.slots[i])
        _prefetch(<const char*>&self.slots[i] + sizeof(Entry) - 1)
        return i

    cdef inline Entry* _lookup_from(self, Py_ssize_t i, uint8_t proto, uint32_t saddr,
                                    uint32_t sport, uint32_t daddr,
                                    uint32_t dport) noexcept nogil:
        cdef Entry* e
        while True:
            e = &self.slots[i]
            if not e.used:
                return NULL
            if (e.saddr == saddr and e.daddr == daddr and e.sport == sport
                    and e.dport == dport and e.proto == proto):
                return e
            i = (i + 1) & self.mask

    cdef void _place(self, Entry* entry) noexcept nogil:
        cdef Py_ssize_t i = <Py_ssize_t>(_hash(entry.proto, entry.saddr, entry.sport,
                                               entry.daddr, entry.dport) & self.mask)
        while self.slots[i].used:
            i = (i + 1) & self.mask
        self.slots[i] = entry[0]

    cdef int _grow(self) except -1:
        cdef Py_ssize_t old_cap = self.mask + 1, i
        cdef Entry* old = self.slots
        cdef Entry* fresh = <Entry*>calloc(2 * old_cap, sizeof(Entry))
        if fresh == NULL:
            raise MemoryError("no memory to grow the flow table")
        self.slots = fresh
        self.mask = 2 * old_cap - 1
        for i in range(old_cap):
            if old[i].used:
                self._place(&old[i])
        free(old)
        return 0

    def insert(self, uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
               uint16_t dport, uint32_t nsaddr, uint16_t nsport, uint32_t ndaddr,
               uint16_t ndport, int32_t output, int32_t value):
        """Map the key to the rewritten tuple; False (and no change) if the key is present."""
        cdef Entry e
        if value < 0:
            raise ValueError(f"entry value must be 0 or more, not {value}")
        if self._find(proto, saddr, sport, daddr, dport) >= 0:
            return False
        if 2 * (self.count + 1) > self.mask + 1:
            self._grow()
        e.saddr, e.daddr, e.sport, e.dport, e.proto = saddr, daddr, sport, dport, proto
        e.used, e.pad = 1, 0
        e.nsaddr, e.ndaddr, e.nsport, e.ndport = nsaddr, ndaddr, nsport, ndport
        e.output, e.value = output, value
        e.changed = ((_CHANGED_ADDRS if saddr != nsaddr or daddr != ndaddr else 0)
                     | (_CHANGED_PORTS if sport != nsport or dport != ndport else 0))
        e.ip_delta = _addr_delta(saddr, nsaddr) + _addr_delta(daddr, ndaddr)
        e.tp_delta = _word_delta(sport, nsport) + _word_delta(dport, ndport)
        if proto != _PROTO_ICMP:        # TCP and UDP checksums cover the addresses
            e.tp_delta += e.ip_delta
        self._place(&e)
        self.count += 1
        if value > self.max_value:
            self.max_value = value
        return True

    def lookup(self, uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
               uint16_t dport):
        """The entry's value, or -1 when the key is absent."""
        cdef Entry* e = self._lookup(proto, saddr, sport, daddr, dport)
        return -1 if e == NULL else e.value

    def get(self, uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
            uint16_t dport):
        """(nsaddr, nsport, ndaddr, ndport, output, value), or None when absent."""
        cdef Entry* e = self._lookup(proto, saddr, sport, daddr, dport)
        if e == NULL:
            return None
        return (e.nsaddr, e.nsport, e.ndaddr, e.ndport, e.output, e.value)

    def remove(self, uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
               uint16_t dport):
        """Delete the key; False when it was absent."""
        cdef Py_ssize_t i = self._find(proto, saddr, sport, daddr, dport), j, k
        cdef Entry* e
        if i < 0:
            return False
        j = i
        while True:                     # backward-shift deletion keeps probe chains whole
            j = (j + 1) & self.mask
            e = &self.slots[j]
            if not e.used:
                break
            k = <Py_ssize_t>(_hash(e.proto, e.saddr, e.sport, e.daddr, e.dport) & self.mask)
            if _cyclic_between(i, k, j):
                continue                # its home is after the hole: it stays
            self.slots[i] = e[0]
            i = j
        self.slots[i].used = 0
        self.count -= 1
        return True

    def clear(self):
        cdef Py_ssize_t i
        for i in range(self.mask + 1):
            self.slots[i].used = 0
        self.count = 0
        self.max_value = -1

    def first_free_port(self, uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
                        uint32_t base, uint32_t span, uint32_t start):
        """The first v of start, start+1, ... span, 0, 1, ... (span + 1 candidates) for
        which the key (proto, saddr, sport, daddr, base + v) is absent; -1 if none is."""
        cdef uint32_t count, v = start if start <= span else 0
        if base + span > 0xFFFF:
            raise ValueError(f"port range {base}-{base + span} goes past 65535")
        for count in range(span + 1):
            if self._find(proto, saddr, sport, daddr, base + v) < 0:
                return v
            v = 0 if v == span else v + 1
        return -1

    def first_free_address(self, uint8_t proto, uint32_t saddr, uint16_t sport,
                           uint16_t dport, uint32_t base, uint32_t span, uint32_t start):
        """Like first_free_port, varying the destination address: key
        (proto, saddr, sport, base + v, dport)."""
        cdef uint64_t count
        cdef uint32_t v = start if start <= span else 0
        if <uint64_t>base + span > 0xFFFFFFFF:
            raise ValueError("address range goes past 255.255.255.255")
        for count in range(<uint64_t>span + 1):
            if self._find(proto, saddr, sport, base + v, dport) < 0:
                return v
            v = 0 if v == span else v + 1
        return -1


cdef inline bint _cyclic_between(Py_ssize_t i, Py_ssize_t k, Py_ssize_t j) noexcept nogil:
    """True when k lies in the cyclic interval (i, j]."""
    if i <= j:
        return i < k <= j
    return k > i or k <= j


# -- argument checks (once per call, before the loop) ---------------------------------
cdef int _check_flows(FlowTable table, Py_ssize_t n_flows) except -1:
    if table.max_value >= 0 and (table.max_value >> 1) >= n_flows:
        raise IndexError(f"the flow table names flow {table.max_value >> 1} but the flow "
                         f"arrays hold {n_flows}")
    return 0


# -- header parsing -----------------------------------------------------------------------
cdef inline int _ip_header(const uint8_t* row, Py_ssize_t o, Py_ssize_t end, Py_ssize_t h,
                           Py_ssize_t row_size, Py_ssize_t* hl, Py_ssize_t* ip_len) noexcept nogil:
    """0 when a whole IPv4 header and datagram lie at h inside the packet, else _MALFORMED."""
    cdef const uint8_t* ip
    if end > row_size or h < o or h + 20 > end:
        return _MALFORMED
    ip = row + h
    if ip[0] >> 4 != 4:
        return _MALFORMED
    hl[0] = (ip[0] & 0x0F) << 2
    ip_len[0] = _load16(ip + 2)
    if hl[0] < 20 or ip_len[0] < hl[0] or h + ip_len[0] > end:
        return _MALFORMED
    return 0


cdef inline bint _is_icmp_error(uint8_t t) noexcept nogil:
    return (t == _ICMP_UNREACH or t == _ICMP_TIMXCEED or t == _ICMP_PARAMPROB
            or t == _ICMP_SOURCEQUENCH or t == _ICMP_REDIRECT)


cdef struct Key:
    uint32_t saddr
    uint32_t daddr
    uint32_t sport
    uint32_t dport
    uint8_t proto


cdef inline int _flow_key(const uint8_t* ip, Py_ssize_t hl, Py_ssize_t ip_len,
                          Key* k) noexcept nogil:
    """The flow key of the datagram at ip: _MISS when it can start a mapping,
    _HIT when it can only follow one (echo reply), _ICMP_ERROR for an ICMP
    error, or the code that says why it has none."""
    cdef const uint8_t* tp = ip + hl
    cdef Py_ssize_t tlen = ip_len - hl
    if _load16(ip + 6) & 0x1FFF:
        return _FRAGMENT
    k.proto = ip[9]
    k.saddr = _load32(ip + 12)
    k.daddr = _load32(ip + 16)
    if k.proto == _PROTO_TCP or k.proto == _PROTO_UDP:
        if tlen < (20 if k.proto == _PROTO_TCP else 8):
            return _MALFORMED
        k.sport = _load16(tp)
        k.dport = _load16(tp + 2)
        return _MISS
    if k.proto != _PROTO_ICMP:
        return _UNMAPPABLE
    if tlen < 8:
        return _MALFORMED
    if tp[0] == _ICMP_ECHO:             # the identifier is the request's "source port"
        k.sport = _load16(tp + 4)
        k.dport = 0
        return _MISS
    if tp[0] == _ICMP_ECHOREPLY:        # ... and the reply's "destination port"
        k.sport = 0
        k.dport = _load16(tp + 4)
        return _HIT
    if _is_icmp_error(tp[0]):
        return _ICMP_ERROR
    return _UNMAPPABLE


# -- rewriting ------------------------------------------------------------------------------
cdef inline void _rewrite_hit(uint8_t* ip, Py_ssize_t hl, Py_ssize_t ip_len,
                              const Entry* e) noexcept nogil:
    """Apply entry e to the (first or only) fragment at ip whose key matched it."""
    cdef uint8_t* tp = ip + hl
    cdef uint32_t c, new
    if e.changed & _CHANGED_ADDRS:
        _store32(ip + 12, e.nsaddr)
        _store32(ip + 16, e.ndaddr)
        _store16(ip + 10, _apply_delta(_load16(ip + 10), e.ip_delta))
    if not e.changed:
        return
    if e.proto == _PROTO_TCP:
        _store16(tp, e.nsport)
        _store16(tp + 2, e.ndport)
        _store16(tp + 16, _apply_delta(_load16(tp + 16), e.tp_delta))
    elif e.proto == _PROTO_UDP:
        _store16(tp, e.nsport)
        _store16(tp + 2, e.ndport)
        c = _load16(tp + 6)
        if c != 0:                      # 0 means "no checksum" and stays 0
            c = _apply_delta(c, e.tp_delta)
            _store16(tp + 6, 0xFFFF if c == 0 else c)
    elif e.proto == _PROTO_ICMP:
        # Only the identifier is in the message (where the key has a request's source
        # port or a reply's destination port), so the checksum follows that word alone:
        # a request can hit an entry made for replies when its identifier and the
        # entry's new one are both 0.
        c = _load16(tp + 4)
        new = e.nsport if tp[0] == _ICMP_ECHO else e.ndport
        _store16(tp + 4, new)
        # zero is written 0xFFFF: the only right form for an all-zero message
        c = _apply_delta(_load16(tp + 2), _word_delta(c, new))
        _store16(tp + 2, 0xFFFF if c == 0 else c)


cdef inline void _track(const uint8_t* ip, Py_ssize_t hl, Py_ssize_t ip_len, uint8_t proto,
                        int32_t value, double now, double* last_used, uint8_t* state,
                        uint32_t* packets) noexcept nogil:
    """Refresh the flow's use time and connection state (Click's TCP/UDP flow flags)."""
    cdef Py_ssize_t f = value >> 1
    cdef int d = value & 1
    cdef uint8_t s = state[f] | (_FWD_SEEN << d)
    cdef const uint8_t* tp
    cdef uint8_t flags
    cdef bint payload
    last_used[f] = now
    if packets[f] != 0xFFFFFFFFu:
        packets[f] += 1
    if proto == _PROTO_TCP:
        tp = ip + hl
        flags = tp[13]
        payload = hl + ((tp[12] >> 4) << 2) < ip_len
        if flags & _TH_RST:
            s |= _FWD_DONE | _REP_DONE
        elif flags & _TH_FIN:
            s |= _FWD_DONE << d
        elif (flags & _TH_SYN) or payload:
            s &= ~(_FWD_DONE << d)
        if payload:
            s |= _FWD_DATA << d
    state[f] = s


cdef inline int _translate_icmp_error(uint8_t* ip, Py_ssize_t hl, Py_ssize_t ip_len,
                                      FlowTable table, Entry** found) noexcept nogil:
    """Rewrite an ICMP error whose quoted datagram belongs to a mapped flow, as
    Click's ICMPRewriter and Linux do: the quoted header (addresses, ports or
    echo identifier, its checksums), the outer addresses that name the flow's
    ends, and the outer IP and ICMP checksums.  _ICMP_ERROR, or _UNMAPPABLE."""
    cdef uint8_t* icmp = ip + hl
    cdef uint8_t* q = icmp + 8
    cdef const uint8_t* end = ip + ip_len
    cdef uint8_t* qt
    cdef Py_ssize_t qhl
    cdef uint8_t qp
    cdef uint32_t qsrc, qdst, qsport = 0, qdport = 0, old, new, c, c2
    cdef uint32_t nsrc, ndst, nsport, ndport
    cdef uint64_t outer_ip = 0, outer_icmp = 0, quoted_ip, quoted_tp
    cdef bint ports = False, echo_request = False
    cdef Entry* e
    if ip_len - hl < 8 + 20:
        return _UNMAPPABLE
    if q[0] >> 4 != 4:
        return _UNMAPPABLE
    qhl = (q[0] & 0x0F) << 2
    if qhl < 20 or q + qhl > end or _load16(q + 6) & 0x1FFF:
        return _UNMAPPABLE
    qp = q[9]
    qsrc = _load32(q + 12)
    qdst = _load32(q + 16)
    qt = q + qhl
    if qt + 8 > end:
        return _UNMAPPABLE
    if qp == _PROTO_TCP or qp == _PROTO_UDP:
        qsport = _load16(qt)
        qdport = _load16(qt + 2)
        ports = True
    elif qp == _PROTO_ICMP and qt[0] == _ICMP_ECHO:
        qsport = _load16(qt + 4)
        echo_request = True
    elif qp == _PROTO_ICMP and qt[0] == _ICMP_ECHOREPLY:
        qdport = _load16(qt + 4)
    else:
        return _UNMAPPABLE
    # The quoted datagram went one way; the mapping we want is the other way's.
    e = table._lookup(qp, qdst, qdport, qsrc, qsport)
    if e == NULL:
        return _UNMAPPABLE
    found[0] = e
    nsrc, ndst, nsport, ndport = e.ndaddr, e.nsaddr, e.ndport, e.nsport

    # quoted transport header first: its checksum is part of what the outer one covers
    quoted_ip = _addr_delta(qsrc, nsrc) + _addr_delta(qdst, ndst)
    if ports:
        quoted_tp = quoted_ip + _word_delta(qsport, nsport) + _word_delta(qdport, ndport)
        outer_icmp += _word_delta(qsport, nsport) + _word_delta(qdport, ndport)
        _store16(qt, nsport)
        _store16(qt + 2, ndport)
        if qp == _PROTO_TCP and qt + 18 <= end:
            old = _load16(qt + 16)
            new = _apply_delta(old, quoted_tp)
            _store16(qt + 16, new)
            outer_icmp += _word_delta(old, new)
        elif qp == _PROTO_UDP and _load16(qt + 6) != 0:
            old = _load16(qt + 6)
            new = _apply_delta(old, quoted_tp)
            if new == 0:
                new = 0xFFFF
            _store16(qt + 6, new)
            outer_icmp += _word_delta(old, new)
    else:
        old = qsport if echo_request else qdport
        new = nsport if echo_request else ndport
        if old != new:
            outer_icmp += _word_delta(old, new)
            _store16(qt + 4, new)
            c = _load16(qt + 2)
            c2 = _apply_delta(c, _word_delta(old, new))
            _store16(qt + 2, c2)
            outer_icmp += _word_delta(c, c2)
    # quoted IP header
    if qsrc != nsrc or qdst != ndst:
        _store32(q + 12, nsrc)
        _store32(q + 16, ndst)
        old = _load16(q + 10)
        new = _apply_delta(old, quoted_ip)
        _store16(q + 10, new)
        outer_icmp += quoted_ip + _word_delta(old, new)
    # outer ICMP checksum
    _store16(icmp + 2, _apply_delta(_load16(icmp + 2), outer_icmp))
    # outer addresses that name an end of the flow: the one the error goes
    # to, and (for an error from an endpoint itself) the one it comes from
    old = _load32(ip + 16)
    if old == qsrc and old != nsrc:
        _store32(ip + 16, nsrc)
        outer_ip += _addr_delta(old, nsrc)
    old = _load32(ip + 12)
    if old == qdst and old != ndst:
        _store32(ip + 12, ndst)
        outer_ip += _addr_delta(old, ndst)
    _store16(ip + 10, _apply_delta(_load16(ip + 10), outer_ip))
    return _ICMP_ERROR


def rewrite_batch(pool, const uint32_t[:] idx, FlowTable table, double now,
                  double[::1] last_used, uint8_t[::1] state, uint32_t[::1] packets,
                  bint dst_anno, uint8_t[::1] out_code, int32_t[::1] out_port,
                  int32_t[::1] out_value, uint32_t[:, ::1] out_key):
    """Look up and rewrite a batch of IP packets at nh (IPRewriter's hot path).

    For each packet i: out_code[i] is HIT (rewritten; FIRST_FRAGMENT is or-ed
    in for the first fragment of a fragmented datagram), ICMP_ERROR
    (translated), MISS, UNMAPPABLE, FRAGMENT or MALFORMED.  For HIT and
    ICMP_ERROR, out_port[i] is the entry's output and out_value[i] its value;
    otherwise they are -1.  out_key[i] is (saddr, daddr, sport << 16 | dport,
    proto) of the packet's flow for HIT and MISS (zeros otherwise).  A hit
    sets last_used[flow] = now and updates state[flow] and packets[flow]
    (flow = value >> 1, direction = value & 1); with dst_anno, the dst_ip
    annotation of rewritten packets becomes their new destination.  Returns
    the number of HIT and ICMP_ERROR packets.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], done = 0
    cdef Py_ssize_t o, h, hl = 0, ip_len = 0, f
    cdef uint32_t slot
    cdef uint8_t* ip
    cdef int code
    cdef Key k
    cdef Entry* e
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0],
                          dst_ip.shape[0]),
                 min(out_code.shape[0], out_port.shape[0], out_value.shape[0], out_key.shape[0]))
    if out_key.shape[1] < 4:
        raise ValueError("out_key needs 4 columns")
    _check_flows(table, min(last_used.shape[0], state.shape[0], packets.shape[0]))
    with nogil:
        # Pass 1: parse every packet, find its key, start fetching its table slot.
        # The lookups of pass 2 then find their slots in cache: the misses to
        # memory of a whole batch overlap instead of coming one after another.
        for i in range(n):
            slot = idx[i]
            out_port[i] = -1
            out_value[i] = -1
            out_key[i, 0] = out_key[i, 1] = out_key[i, 2] = out_key[i, 3] = 0
            o = off[slot]
            h = nh[slot]
            code = _ip_header(&data[slot, 0], o, o + length[slot], h, row_size, &hl, &ip_len)
            if code == 0:
                code = _flow_key(&data[slot, h], hl, ip_len, &k)
                if code == _MISS or code == _HIT:
                    out_key[i, 0] = k.saddr
                    out_key[i, 1] = k.daddr
                    out_key[i, 2] = (k.sport << 16) | k.dport
                    out_key[i, 3] = k.proto
                    out_value[i] = <int32_t>table._home(k.proto, k.saddr, k.sport, k.daddr,
                                                        k.dport)
            out_code[i] = code
        # Pass 2: look up (ICMP errors are translated here, in full), and start
        # fetching the flow columns each hit will update.  Pass 1 left MISS for
        # keys that may start a mapping and HIT for those that may only follow one.
        for i in range(n):
            code = out_code[i]
            if code != _MISS and code != _HIT and code != _ICMP_ERROR:
                continue
            slot = idx[i]
            o = off[slot]
            h = nh[slot]
            _ip_header(&data[slot, 0], o, o + length[slot], h, row_size, &hl, &ip_len)
            ip = &data[slot, h]
            if code == _ICMP_ERROR:
                e = NULL
                code = _translate_icmp_error(ip, hl, ip_len, table, &e)
                if code == _ICMP_ERROR:
                    out_port[i] = e.output
                    out_value[i] = e.value
                    if dst_anno:
                        dst_ip[slot] = _load32(ip + 16)
                    done += 1
                out_code[i] = code
                continue
            e = table._lookup_from(out_value[i], <uint8_t>out_key[i, 3], out_key[i, 0],
                                   out_key[i, 2] >> 16, out_key[i, 1], out_key[i, 2] & 0xFFFF)
            if e == NULL:
                out_value[i] = -1
                out_code[i] = _MISS if code == _MISS else _UNMAPPABLE
                continue
            out_value[i] = <int32_t>(e - table.slots)      # the entry, for pass 3
            out_code[i] = _PENDING
            f = e.value >> 1
            _prefetch(&last_used[f])
            _prefetch(&state[f])
            _prefetch(&packets[f])
        # Pass 3, in batch order: rewrite the hits and update their flows.
        for i in range(n):
            if out_code[i] != _PENDING:
                continue
            e = &table.slots[out_value[i]]
            slot = idx[i]
            o = off[slot]
            h = nh[slot]
            _ip_header(&data[slot, 0], o, o + length[slot], h, row_size, &hl, &ip_len)
            ip = &data[slot, h]
            _rewrite_hit(ip, hl, ip_len, e)
            _track(ip, hl, ip_len, e.proto, e.value, now, &last_used[0], &state[0],
                   &packets[0])
            if dst_anno:
                dst_ip[slot] = e.ndaddr
            out_port[i] = e.output
            out_value[i] = e.value
            out_code[i] = _HIT | (_FIRST_FRAGMENT if _load16(ip + 6) & 0x2000 else 0)
            done += 1
    return done


def rewrite_addr_batch(pool, const uint32_t[:] idx, FlowTable table, double now,
                       double[::1] last_used, uint8_t[::1] state, uint32_t[::1] packets,
                       bint dst_anno, uint8_t[::1] out_code, int32_t[::1] out_port,
                       int32_t[::1] out_value, uint32_t[:, ::1] out_key, bint pair=False):
    """Basic NAT (IPAddrRewriter): rewrite addresses only, any IP protocol.

    A packet is looked up by (0, saddr, 0, 0, 0): a hit (direction 0) gets
    its source rewritten; else by (0, 0, 0, daddr, 0): a hit (direction 1)
    gets its destination rewritten.  With `pair` (IPAddrPairRewriter) it is
    looked up by (0, saddr, 0, daddr, 0) alone and a hit sets both addresses
    to the entry's.  The IP checksum is updated, and so is
    the TCP or UDP checksum of a first (or only) fragment long enough to
    hold it (18 bytes of TCP, 8 of UDP; a zero UDP checksum stays zero).
    out_code[i] is HIT, MISS or MALFORMED, out_key[i] (saddr, daddr, 0,
    proto) for HIT and MISS; the rest as rewrite_batch.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], done = 0
    cdef Py_ssize_t o, h, hl = 0, ip_len = 0, tlen
    cdef uint32_t slot, saddr, daddr, c
    cdef uint8_t* ip
    cdef uint8_t* tp
    cdef int code
    cdef Entry* e
    cdef bint reply
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0],
                          dst_ip.shape[0]),
                 min(out_code.shape[0], out_port.shape[0], out_value.shape[0], out_key.shape[0]))
    if out_key.shape[1] < 4:
        raise ValueError("out_key needs 4 columns")
    _check_flows(table, min(last_used.shape[0], state.shape[0], packets.shape[0]))
    with nogil:
        for i in range(n):
            slot = idx[i]
            out_port[i] = -1
            out_value[i] = -1
            out_key[i, 0] = out_key[i, 1] = out_key[i, 2] = out_key[i, 3] = 0
            o = off[slot]
            h = nh[slot]
            code = _ip_header(&data[slot, 0], o, o + length[slot], h, row_size, &hl, &ip_len)
            if code:
                out_code[i] = code
                continue
            ip = &data[slot, h]
            saddr = _load32(ip + 12)
            daddr = _load32(ip + 16)
            out_key[i, 0] = saddr
            out_key[i, 1] = daddr
            out_key[i, 3] = ip[9]
            reply = False
            if pair:
                e = table._lookup(0, saddr, 0, daddr, 0)
            else:
                e = table._lookup(0, saddr, 0, 0, 0)
                if e == NULL:
                    e = table._lookup(0, 0, 0, daddr, 0)
                    reply = True
            if e == NULL:
                out_code[i] = _MISS
                continue
            if pair:
                _store32(ip + 12, e.nsaddr)
                _store32(ip + 16, e.ndaddr)
            elif reply:
                _store32(ip + 16, e.ndaddr)
            else:
                _store32(ip + 12, e.nsaddr)
            _store16(ip + 10, _apply_delta(_load16(ip + 10), e.ip_delta))
            tp = ip + hl
            tlen = ip_len - hl
            if not (_load16(ip + 6) & 0x1FFF):
                if ip[9] == _PROTO_TCP and tlen >= 18:
                    _store16(tp + 16, _apply_delta(_load16(tp + 16), e.ip_delta))
                elif ip[9] == _PROTO_UDP and tlen >= 8 and _load16(tp + 6) != 0:
                    c = _apply_delta(_load16(tp + 6), e.ip_delta)
                    _store16(tp + 6, 0xFFFF if c == 0 else c)
            _track(ip, hl, ip_len, 0, e.value, now, &last_used[0], &state[0], &packets[0])
            if dst_anno:
                dst_ip[slot] = _load32(ip + 16)
            out_port[i] = e.output
            out_value[i] = e.value
            out_code[i] = _HIT
            done += 1
    return done
