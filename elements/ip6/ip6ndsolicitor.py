"""IP6NDSolicitor: puts IPv6 packets in Ethernet frames for their next hop,
asking neighbour discovery (RFC 4861) -- ARPQuerier's IPv6 counterpart."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, mac_address, seconds, unsigned, word
from vforward.element import HandlerError, write_handler
from vforward.packet import Batch, PoolExhausted

from vforward.elements.ether.arptable import DEFAULT_CAPACITY, DEFAULT_SLIM_FACTOR, \
    DEFAULT_TIMEOUT, HELD_QUERY
from vforward.elements.ether.neighborquerier import NeighborQuerier
from vforward.elements.ether.ethernet import ETHER_HEADER_LEN, make_headroom, push_headers, \
    scatter

from .ip6family import ip6_address_arg
from .ip6header import ip6header
from .ndmessages import ETHERTYPE_IP6, ND_ADVERT, ND_FRAME_LEN, ND_SOLICIT, NDMessage, \
    UNSPECIFIED, solicitation
from .neighbortable import NeighborTable, address_rows


class IP6NDSolicitor(NeighborQuerier):
    """IP6NDSolicitor(IP6, ETH, KEYWORDS) -- encapsulate IPv6 packets in Ethernet headers found via neighbour discovery

    Ports: 2 inputs, 1 or 2 outputs; push.

    Handles the sending side of IPv6 neighbour discovery (RFC 4861) for one
    interface whose IPv6 address is IP6 and whose Ethernet address is ETH.

    Input 0 takes IPv6 packets whose dst_ip6 annotation holds their next
    hop, as a route lookup leaves it.  When the next hop's Ethernet address
    is known, the packet gets an Ethernet header (from ETH to that address,
    type 0x86DD) and leaves by output 0; a multicast next hop gets 33:33 and
    the group's last four bytes (RFC 2464).  Otherwise the packet is held in
    the neighbour table and a neighbour solicitation for the next hop goes
    to its solicited-node group; when the advertisement comes in on input 1
    the mapping is recorded and the held packets leave in their arrival
    order.  Input 1 takes Ethernet frames holding neighbour advertisements
    and solicitations (checked as RFC 4861 7.1 asks); it learns from an
    advertisement's target link-layer address option and from a
    solicitation's source link-layer option, and frees the frames.

    With two outputs, solicitations leave by output 1; with one, they share
    output 0 with the IPv6 frames.  Solicitations for one address go at most
    10 a second, then every 2 seconds (as ARPQuerier's queries).  The next
    hop :: (a missing annotation) is dropped.

    Keyword arguments:
      TABLE (element)                     a NeighborTable holding the state (shared by
                                          several solicitors); then the next five belong to it
      CAPACITY (integer, default 2048)    most packets held in all; 0 for no limit
      ENTRY_CAPACITY (integer, default 0)   most entries; 0 for no limit
      ENTRY_PACKET_CAPACITY (integer, default 0)  most packets held per address
      CAPACITY_SLIM_FACTOR (integer, default 2)   how far to slim past CAPACITY
      TIMEOUT (time, default 5min)        lifetime of a mapping; 0 for never

    Handlers:
      table (read)          the neighbour table: IP6 OK ETH AGE per line
      count (read)          entries in the table
      length (read)         packets held
      queries (read)        solicitations sent
      responses (read)      advertisements learnt from
      drops (read)          packets dropped here and by the table
      insert (write)        "IP6 ETH": add a mapping and send the packets held for IP6
      delete (write)        "IP6": remove a mapping, dropping the packets held for it
      clear (write)         empty the table
    """
    TABLE_CLASS = NeighborTable
    TABLE_ARTICLE = "a"

    def configure(self, args):
        self.table_name = args.keyword("TABLE", word, default=None)
        limits = dict(
            capacity=args.keyword("CAPACITY", unsigned, default=None),
            entry_capacity=args.keyword("ENTRY_CAPACITY", unsigned, default=None),
            entry_packet_capacity=args.keyword("ENTRY_PACKET_CAPACITY", unsigned, default=None),
            slim_factor=args.keyword("CAPACITY_SLIM_FACTOR", unsigned, default=None),
            timeout=args.keyword("TIMEOUT", seconds, default=None))
        self.ipaddr = args.mandatory("IP6", lambda t: ip6_address_arg(t.split("/")[0]))
        self.eth = args.mandatory("ETH", mac_address)
        args.finish()
        given = [k.upper() for k, v in limits.items() if v is not None]
        self._own_table = self.table_name is None
        if not self._own_table:
            if given:
                raise ArgumentError(f"{args.where}: {', '.join(given)} belong to the "
                                    f"NeighborTable {self.table_name!r} named by TABLE; set "
                                    "them there")
            self.table = None
        else:
            self.table = NeighborTable(f"{self.name}/table")
            defaults = dict(capacity=DEFAULT_CAPACITY, entry_capacity=0, entry_packet_capacity=0,
                            slim_factor=DEFAULT_SLIM_FACTOR, timeout=DEFAULT_TIMEOUT)
            self.table.set_limits(**{k: defaults[k] if v is None else v
                                     for k, v in limits.items()}, where=args.where)
        self._src = self.ipaddr.to_bytes(16, "big")
        self._eth_row = np.frombuffer(self.eth, dtype=np.uint8)
        self._header_row = np.zeros(ETHER_HEADER_LEN, dtype=np.uint8)
        self._header_row[6:12] = self._eth_row
        self._header_row[12:14] = (ETHERTYPE_IP6 >> 8, ETHERTYPE_IP6 & 0xFF)
        self._src_type = self._header_row[6:14].copy()      # source MAC and EtherType
        self.queries = self.responses = self.drops = 0

    # -- packet flow ---------------------------------------------------------------
    def _send(self, batch: Batch) -> None:
        pool, idx = batch.pool, batch.idx
        n = len(idx)
        if not n:
            return
        now = self.router.now()
        if ip6header.same_dst_ip6(pool, idx):
            # One next hop for the whole batch (the usual case on a link): one
            # dictionary lookup, and one compiled pass frames every packet.
            row = self.table.known_row(int.from_bytes(pool.dst_ip6[idx.item(0)].tobytes(),
                                                      "big"), now)
            if row >= 0:
                try:
                    pool._slots.push_ether(idx, self.table._mac, row, self._src_type)
                except ValueError:              # a packet lacks the headroom
                    self._emit_frames(batch, self.table.macs(np.array([row]))[:1])
                else:
                    self.emit(0, batch)
                return
        hops = pool.dst_ip6[idx]
        rows, known = self.table.lookup(address_rows(hops), now)
        dst = np.empty((n, 6), dtype=np.uint8)
        if known.all():
            self._emit_frames(batch, self.table.macs(rows))
            return
        dst[known] = self.table.macs(rows[known])
        mcast = ~known & (hops[:, 0] == 0xFF)
        if mcast.any():
            dst[mcast, 0:2] = 0x33
            dst[mcast, 2:6] = hops[mcast, 12:16]
        go = known | mcast
        zero = ~go & ~hops.any(axis=1)
        if zero.any():
            self.drops += int(zero.sum())
            batch.select(zero).kill()
        queries = []
        for i in np.flatnonzero(~go & ~zero).tolist():
            target = hops[i].tobytes()
            if self.table.append_query(int.from_bytes(target, "big"), int(idx[i]), pool,
                                       now) == HELD_QUERY:
                queries.append(target)
        if go.any():
            self._emit_frames(batch.select(go), dst[go])
        if queries:
            self._send_queries(pool, queries)

    def _emit_frames(self, batch: Batch, dst: np.ndarray) -> None:
        pool, idx = batch.pool, batch.idx
        if len(dst) == 1 and pool._slots.min_offset(idx) >= ETHER_HEADER_LEN:
            header = self._header_row           # one next hop: one header for all
            header[0:6] = dst[0]
            push_headers(pool, idx, header)
            self.emit(0, batch)
            return
        keep = make_headroom(pool, idx, ETHER_HEADER_LEN)
        if not keep.all():
            dropped = batch.select(~keep)
            self.drops += len(dropped)
            dropped.kill()
            batch, dst = batch.select(keep), dst[keep]
        header = np.empty((len(batch), ETHER_HEADER_LEN), dtype=np.uint8)
        header[:, 0:6] = dst
        header[:, 6:12] = self._eth_row
        header[:, 12] = ETHERTYPE_IP6 >> 8
        header[:, 13] = ETHERTYPE_IP6 & 0xFF
        push_headers(pool, batch.idx, header)
        self.emit(0, batch)

    def _send_queries(self, pool, targets: list[bytes]) -> None:
        try:
            out = pool.alloc(len(targets), ND_FRAME_LEN)
        except PoolExhausted:
            return      # the next packet for the address asks again
        frames = np.frombuffer(b"".join(solicitation(self.eth, self._src, t) for t in targets),
                               dtype=np.uint8).reshape(len(targets), ND_FRAME_LEN)
        scatter(pool, out.idx, 0, frames)
        self.queries += len(targets)
        self.emit(self.n_outputs - 1, out)

    def _learn(self, batch: Batch) -> None:
        """Record what advertisements (and solicitations) on input 1 tell."""
        pool = batch.pool
        now = self.router.now()
        released: list[int] = []
        for slot in batch.idx.tolist():
            m = NDMessage.parse(pool.packet_bytes(slot))
            if m is None:
                continue
            if m.type == ND_ADVERT:
                self.responses += 1
                ip, mac = m.target, m.lladdr or m.eth_src
            elif m.type == ND_SOLICIT and m.src != UNSPECIFIED and m.lladdr is not None:
                ip, mac = m.src, m.lladdr
            else:
                continue
            if mac[0] & 1:
                continue                # never a group address
            released += self.table.insert(int.from_bytes(ip, "big"), mac, now)
        batch.kill()
        if released:
            self._send(Batch(pool, np.array(released, dtype=np.uint32)))

    # -- handlers -----------------------------------------------------------------
    @write_handler("delete")
    def write_delete(self, value):
        ip = self.table.parse_delete(value)
        if not self.table.delete(ip):
            raise HandlerError(f"{self.table.address_text(ip)} is not in the neighbour table; "
                               "read the table handler for its entries")

    @write_handler("clear")
    def write_clear(self, value):
        self.table.clear()
