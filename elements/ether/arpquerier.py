"""ARPQuerier: puts IP packets in Ethernet frames for their next hop, asking ARP.

The resolved case is the hot path and works on the whole batch: the next
hops (dst_ip annotations) are looked up at once in the ARPTable's sorted
address index, broadcast and multicast next hops get their fixed
destinations with vector masks, and every packet that can go has its
14-byte header pushed into its headroom with one scatter.  Only the
packets whose next hop is unknown take a per-packet path: they are held
in the table, and a query goes out at most every 100 ms per address.
"""
from __future__ import annotations

import sys

import numpy as np

from vforward.args import (ArgumentError, boolean, ip_address, ip_address_and_prefix,
                           mac_address, named_address, seconds, unsigned, word)
from vforward.element import HandlerError, read_handler, write_handler
from vforward.packet import Batch, PoolExhausted

from .arptable import (DEFAULT_CAPACITY, DEFAULT_ENTRY_CAPACITY, DEFAULT_SLIM_FACTOR,
                       DEFAULT_TIMEOUT, HELD_QUERY,
                       ARPTable, parse_delete)
from .neighborquerier import NeighborQuerier
from .ethernet import (ARP_FRAME_LEN, ARP_HRD, ARP_OP, ARP_PRO, ARP_SHA, ARP_SPA, ARP_TPA,
                       ARPHRD_ETHER, ARPOP_REPLY, ARPOP_REQUEST, BROADCAST_MAC, ETH_TYPE,
                       ETHER_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IP, be16, be32, be32_bytes,
                       gather, handler_value, make_headroom, push_headers, scatter, unparse_ip)

_TABLE_KEYWORDS = ("CAPACITY", "ENTRY_CAPACITY", "ENTRY_PACKET_CAPACITY",
                   "CAPACITY_SLIM_FACTOR", "TIMEOUT")


class ARPQuerier(NeighborQuerier):
    """ARPQuerier(IP, ETH, KEYWORDS) -- encapsulate IP packets in Ethernet headers found via ARP

    Ports: 2 inputs, 1 or 2 outputs; push.

    Handles most of the ARP protocol for one interface whose IP address is
    IP and whose Ethernet address is ETH.  IP may carry the interface's
    prefix (18.26.4.24/24), from which the local broadcast address comes.

    Input 0 takes IP packets whose destination address annotation (dst_ip)
    holds their next hop, as a route lookup leaves it.  When the next hop's
    Ethernet address is known, the packet gets an Ethernet header (from
    ETH to that address, type 0x0800) and leaves by output 0.  Otherwise the packet
    is held and an ARP query for the next hop goes out; when the reply comes
    in on input 1 the mapping is recorded and the held packets leave, in
    their arrival order.  Input 1 takes ARP frames, Ethernet header
    included; ARPQuerier learns from replies only (as Click's: queries and
    anything else are just freed).

    With two outputs, ARP queries leave by output 1; with one, they share
    output 0 with the IP frames.

    Next hop 0.0.0.0 (a missing annotation) is dropped.  Packets for
    255.255.255.255 or the local broadcast address go to FF-FF-FF-FF-FF-FF,
    and multicast ones to 01-00-5E plus the address's low 23 bits (RFC
    1112), without asking ARP.

    Queries for one address go at most 10 times a second, and once every
    2 seconds after 10 queries without an answer; a held packet's address
    is asked again when more packets for it arrive.  A mapping older than
    POLL_TIMEOUT is refreshed by a query to the known address (broadcast
    with BROADCAST_POLL) while it is still used; one older than TIMEOUT
    expires.

    Keyword arguments:
      TABLE (element)                     an ARPTable holding the state (shared by several
                                          ARPQueriers); then the next five belong to it
      CAPACITY (integer, default 2048)    most packets held in all; 0 for no limit
      ENTRY_CAPACITY (integer, default 4096)  most ARP entries; 0 for no limit
      ENTRY_PACKET_CAPACITY (integer, default 0)  most packets held per address; 0 for no limit
      CAPACITY_SLIM_FACTOR (integer, default 2)   past CAPACITY, drop oldest packets until
                                          CAPACITY - CAPACITY/CAPACITY_SLIM_FACTOR remain
      TIMEOUT (time, default 5min)        lifetime of a mapping; 0 for never
      POLL_TIMEOUT (time, default 1min)   age at which a used mapping is refreshed; 0 for never
      BROADCAST (IP address)              local broadcast address (default from IP's prefix)
      BROADCAST_POLL (boolean, false)     send refresh queries to broadcast

    Example:
      c :: Classifier(12/0806 20/0002, 12/0800, -);
      a :: ARPQuerier(18.26.4.24, 00:00:C0:AE:67:EF);
      c[0] -> [1]a;  c[1] -> ... -> a;  a -> ToDevice(eth0);

    Handlers:
      table (read)          the ARP table: IP OK ETH AGE per line (see ARPTable)
      stats (read)          packets killed and ARP queries sent
      count (read)          entries in the ARP table
      length (read)         packets held
      queries (read)        ARP queries sent
      responses (read)      ARP replies received
      drops (read)          packets dropped here and by the table (capacity, timeouts)
      ipaddr (read/write)   IP; 0.0.0.0 drops every IP packet
      broadcast (read/write)  the local broadcast address
      insert (write)        "IP ETH": add a mapping and send the packets held for IP
      delete (write)        "IP": remove a mapping, dropping the packets held for IP
      clear (write)         empty the table and zero the counters
    """
    def configure(self, args):
        self.table_name = args.keyword("TABLE", word, default=None)
        self._own_table = False
        limits = dict(
            capacity=args.keyword("CAPACITY", unsigned, default=None),
            entry_capacity=args.keyword("ENTRY_CAPACITY", unsigned, default=None),
            entry_packet_capacity=args.keyword("ENTRY_PACKET_CAPACITY", unsigned, default=None),
            slim_factor=args.keyword("CAPACITY_SLIM_FACTOR", unsigned, default=None),
            timeout=args.keyword("TIMEOUT", seconds, default=None))
        self.poll_timeout = args.keyword("POLL_TIMEOUT", seconds, default=60.0)
        bcast = args.keyword("BROADCAST", ip_address, default=None)
        self.broadcast_poll = args.keyword("BROADCAST_POLL", boolean, default=False)
        first = args.raw[0].strip() if args.raw else ""
        self.ipaddr, plen = args.mandatory("IP", ip_address_and_prefix)
        eth = args.positional("ETH", mac_address, default=None)
        args.finish()
        if eth is None:   # ARPQuerier(eth0), eth0 an AddressInfo name with both addresses
            named = named_address(first, ("eth",)) if ":" not in first else None
            eth = named[1] if named is not None else None
        if eth is None:
            raise ArgumentError(f"{args.where}: missing argument ETH; give both the interface's "
                                "IP and Ethernet addresses, as in ARPQuerier(10.0.0.1, "
                                "00:11:22:33:44:55), or an AddressInfo name that has both")
        self.eth = eth
        if bcast is None:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            bcast = self.ipaddr | (~mask & 0xFFFFFFFF)
            if bcast == self.ipaddr:
                bcast = 0xFFFFFFFF
        self.bcast = bcast
        given = [k for k, v in zip(_TABLE_KEYWORDS, limits.values()) if v is not None]
        if self.table_name is not None:
            if given:
                raise ArgumentError(f"{args.where}: {', '.join(given)} belong to the ARPTable "
                                    f"{self.table_name!r} named by TABLE; set them there")
            self.table = None
        else:
            self.table = ARPTable(f"{self.name}/table")
            self._own_table = True
            defaults = dict(capacity=DEFAULT_CAPACITY, entry_capacity=DEFAULT_ENTRY_CAPACITY,
                            entry_packet_capacity=0, slim_factor=DEFAULT_SLIM_FACTOR, timeout=DEFAULT_TIMEOUT)
            self.table.set_limits(**{k: defaults[k] if v is None else v
                                     for k, v in limits.items()}, where=args.where)
        self._eth_row = np.frombuffer(self.eth, dtype=np.uint8)
        self._framed = np.zeros(256, dtype=np.uint8)    # frame_known's marks, reused
        # The last 8 bytes of the Ethernet header _send_one writes (source, EtherType);
        # the destination comes from the table's row.
        self._src_type = np.concatenate((self._eth_row, np.array(
            [ETHERTYPE_IP >> 8, ETHERTYPE_IP & 0xFF], dtype=np.uint8)))
        self.queries = self.responses = self.drops = 0
        self._zero_warned = False

    # -- packet flow ---------------------------------------------------------------
    def _send(self, batch: Batch) -> None:
        pool, idx = batch.pool, batch.idx
        n = len(idx)
        if not n:
            return
        if not self.ipaddr:
            self.drops += n
            batch.kill()
            return
        now = self.router.now()
        table = self.table
        if n == 1 and self._send_one(pool, batch, now):
            return
        if len(self._framed) < n:
            self._framed = np.zeros(max(n, 256), dtype=np.uint8)
        done = table.frame_known(pool, idx, self._eth_row, now, self.poll_timeout, self._framed)
        if done == n:                   # every next hop known: framed in one compiled pass
            self.emit(0, batch)
            return
        if done:
            framed = self._framed[:n].view(np.bool_)
            self.emit(0, batch.select(framed))
            batch = batch.select(~framed)
            idx = batch.idx
        ips = pool.dst_ip[idx]
        rows, known = table.lookup(ips, now)
        queries: list[tuple[int, bytes, int]] = []      # (target, Ethernet destination, ts)
        if self.poll_timeout and known.any():
            for ip in table.due_polls(rows[known], now, self.poll_timeout):
                to = BROADCAST_MAC if self.broadcast_poll else table.mac_of(ip)
                queries.append((ip, to, int(pool.ts_ns[idx[ips == ip][0]])))
        if queries:
            # a refresh query goes before the packets that made it due, as in Click
            self._send_queries(pool, queries)
            queries = []
        if known.all():
            self._emit_frames(batch, table.macs(rows))
        else:
            self._send_special(batch, ips, rows, known, now, queries)
        if queries:
            self._send_queries(pool, queries)

    def _send_one(self, pool, batch: Batch, now: float) -> bool:
        """One packet whose next hop is known, fresh enough not to be polled, and
        that has the headroom: framed with scalar reads and one compiled header
        push, and sent.  False (nothing done) for anything else."""
        slot = batch.idx.item(0)
        table = self.table
        row = table.known_row(pool.dst_ip.item(slot), now)
        if row < 0 or (self.poll_timeout and table._live.item(row) + self.poll_timeout <= now) \
                or pool.off.item(slot) < ETHER_HEADER_LEN:
            return False
        # One compiled call frames it: no numpy work on an idle packet.
        pool._slots.push_ether(batch.idx, table._mac, row, self._src_type)
        self.emit(0, batch)
        return True

    def _send_special(self, batch, ips, rows, known, now, queries) -> None:
        """The part of a batch the table could not frame: broadcast and multicast
        next hops, and those to hold and ask for."""
        pool, idx = batch.pool, batch.idx
        dst = np.empty((len(idx), 6), dtype=np.uint8)
        dst[known] = self.table.macs(rows[known])
        rest = ~known
        bcast = rest & ((ips == 0xFFFFFFFF) | (ips == self.bcast))
        dst[bcast] = 0xFF
        mcast = rest & ~bcast & ((ips >> 28) == 0xE)
        if mcast.any():
            m = ips[mcast]
            dst[mcast] = np.stack([np.full(len(m), 0x01), np.zeros(len(m)), np.full(len(m), 0x5E),
                                   (m >> 16) & 0x7F, (m >> 8) & 0xFF, m & 0xFF], axis=1)
        go = known | bcast | mcast
        wait = ~go
        zero = wait & (ips == 0)
        if zero.any():
            self._drop_zero(batch.select(zero))
        for i in np.flatnonzero(wait & ~zero).tolist():
            ip, slot = int(ips[i]), int(idx[i])
            if self.table.append_query(ip, slot, pool, now) == HELD_QUERY:
                queries.append((ip, BROADCAST_MAC, int(pool.ts_ns[slot])))
        if go.any():
            self._emit_frames(batch.select(go), dst[go])

    def _emit_frames(self, batch: Batch, dst: np.ndarray) -> None:
        pool, idx = batch.pool, batch.idx
        keep = make_headroom(pool, idx, ETHER_HEADER_LEN)
        if not keep.all():
            dropped = batch.select(~keep)
            self.drops += len(dropped)
            dropped.kill()
            batch, dst = batch.select(keep), dst[keep]
        header = np.empty((len(batch), ETHER_HEADER_LEN), dtype=np.uint8)
        header[:, 0:6] = dst
        header[:, 6:12] = self._eth_row
        header[:, 12] = ETHERTYPE_IP >> 8
        header[:, 13] = ETHERTYPE_IP & 0xFF
        push_headers(pool, batch.idx, header)
        self.emit(0, batch)

    def _drop_zero(self, batch: Batch) -> None:
        if not self._zero_warned:
            self._zero_warned = True
            print(f"{self.name} :: ARPQuerier: would query for 0.0.0.0; missing destination "
                  "IP address annotation? (put a route lookup or SetIPAddress before it)",
                  file=sys.stderr)
        self.drops += len(batch)
        batch.kill()

    def _send_queries(self, pool, queries) -> None:
        try:
            out = pool.alloc(len(queries), ARP_FRAME_LEN)
        except PoolExhausted:
            return      # Click: "cannot make packet"; the next packet asks again
        frames = np.zeros((len(queries), ARP_FRAME_LEN), dtype=np.uint8)
        frames[:, 0:6] = np.array([list(to) for _, to, _ in queries], dtype=np.uint8)
        frames[:, 6:12] = self._eth_row
        frames[:, ETH_TYPE:ARP_SHA] = _QUERY_FIELDS
        frames[:, ARP_SHA:ARP_SHA + 6] = self._eth_row
        frames[:, ARP_SPA:ARP_SPA + 4] = be32_bytes(np.array([self.ipaddr] * len(queries)))
        frames[:, ARP_TPA:ARP_TPA + 4] = be32_bytes(np.array([ip for ip, _, _ in queries]))
        scatter(pool, out.idx, 0, frames)
        pool.ts_ns[out.idx] = [ts for _, _, ts in queries]
        self.queries += len(queries)
        self.emit(self.n_outputs - 1, out)

    def _learn(self, batch: Batch) -> None:
        """Record the mappings ARP replies on input 1 carry; send what they release."""
        pool, idx = batch.pool, batch.idx
        long_enough = idx[pool.length[idx] >= ARP_FRAME_LEN]
        self.responses += len(long_enough)          # as Click counts them
        self.drops += len(idx) - len(long_enough)   # too short to be ARP at all
        released: list[int] = []
        if len(long_enough):
            frames = gather(pool, long_enough, 0, ARP_FRAME_LEN)
            reply = ((be16(frames, ETH_TYPE) == ETHERTYPE_ARP)
                     & (be16(frames, ARP_HRD) == ARPHRD_ETHER)
                     & (be16(frames, ARP_PRO) == ETHERTYPE_IP)
                     & (be16(frames, ARP_OP) == ARPOP_REPLY)
                     & ((frames[:, ARP_SHA] & 1) == 0))      # not a group address
            if reply.any():
                now = self.router.now()
                spa = be32(frames[reply, ARP_SPA:ARP_SPA + 4]).tolist()
                sha = frames[reply, ARP_SHA:ARP_SHA + 6]
                for ip, mac in zip(spa, sha):
                    released += self.table.insert(ip, mac.tobytes(), now)
        batch.kill()
        if released:
            self._send(Batch(pool, np.array(released, dtype=np.uint32)))

    # -- handlers -----------------------------------------------------------------
    def _all_drops(self) -> int:
        return self.drops + self.table.drops

    @read_handler("stats")
    def read_stats(self):
        return f"{self._all_drops()} packets killed\n{self.queries} ARP queries sent\n"

    @read_handler("ipaddr")
    def read_ipaddr(self):
        return unparse_ip(self.ipaddr)

    @write_handler("ipaddr")
    def write_ipaddr(self, value):
        self.ipaddr = handler_value(ip_address, value, "ipaddr")

    @read_handler("broadcast")
    def read_broadcast(self):
        return unparse_ip(self.bcast)

    @write_handler("broadcast")
    def write_broadcast(self, value):
        self.bcast = handler_value(ip_address, value, "broadcast")

    @write_handler("delete")
    def write_delete(self, value):
        ip = parse_delete(value)
        if not self.table.delete(ip):
            raise HandlerError(f"{unparse_ip(ip)} is not in the ARP table; read the table "
                               "handler for its entries")

    @write_handler("clear")
    def write_clear(self, value):
        self.queries = self.responses = self.drops = 0
        self.table.clear()


# Ethernet type ARP, then hrd Ethernet, pro IP, hln 6, pln 4, op request.
_QUERY_FIELDS = np.array([ETHERTYPE_ARP >> 8, ETHERTYPE_ARP & 0xFF, 0, ARPHRD_ETHER,
                          ETHERTYPE_IP >> 8, ETHERTYPE_IP & 0xFF, 6, 4, 0, ARPOP_REQUEST],
                         dtype=np.uint8)
