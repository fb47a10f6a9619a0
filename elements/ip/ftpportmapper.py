"""FTPPortMapper: let FTP's active mode through a NAT by rewriting PORT commands."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unsigned
from vforward.element import AGNOSTIC, Element, ElementError, read_handler
from vforward.offload import software_offload

from vforward.elements.ip.ipfields import gather, ip_header_mask, ipheader
from vforward.elements.ip.iprewriter import IPRewriter
from vforward.elements.ip.rewriter_table import PROTO_TCP
from vforward.elements.ip.udprewriter import TCPRewriter

_PORT = np.frombuffer(b"PORT ", dtype=np.uint8)
_UPPER = np.array([0xDF, 0xDF, 0xDF, 0xDF, 0xFF], dtype=np.uint8)    # 'port ' matches too
_DIGITS = frozenset(b"0123456789")


def parse_port_argument(payload: bytes):
    """The PORT command at the start of payload: (start, end, address, port) of
    its argument 'h1,h2,h3,h4,p1,p2' (RFC 959), or None when it is not a
    whole, well-formed PORT command ended by CR or LF."""
    if len(payload) < 5 or payload[:4].upper() != b"PORT" or payload[4] != 0x20:
        return None
    start = 5
    while start < len(payload) and payload[start] == 0x20:
        start += 1
    end = start
    while end < len(payload) and (payload[end] in _DIGITS or payload[end] == 0x2C):
        end += 1
    if end >= len(payload) or payload[end] not in (0x0D, 0x0A):
        return None
    fields = payload[start:end].split(b",")
    if len(fields) != 6 or not all(0 < len(x) <= 3 for x in fields):
        return None
    nums = [int(x) for x in fields]
    if max(nums) > 255:
        return None
    address = nums[0] << 24 | nums[1] << 16 | nums[2] << 8 | nums[3]
    return start, end, address, nums[4] << 8 | nums[5]


def port_argument(address: int, port: int) -> bytes:
    return ",".join(str(x) for x in (address >> 24, address >> 16 & 255, address >> 8 & 255,
                                     address & 255, port >> 8, port & 255)).encode()


class FTPPortMapper(Element):
    """FTPPortMapper(CONTROL_REWRITER, DATA_REWRITER, DATA_REWRITER_INPUT) -- rewrite FTP PORT commands for a NAT

    Ports: 1 input, 1 output; agnostic.

    Click's FTPPortMapper.  Expects the packets of FTP control connections
    (IP, network header annotation set), on their way into
    CONTROL_REWRITER, the TCPRewriter that translates them.  An active-mode
    FTP client names the address and port it listens on for the data
    connection in a PORT command (RFC 959); behind a NAT that address is
    a private one the server cannot reach.  When a packet's payload starts
    with a PORT command ('PORT h1,h2,h3,h4,p1,p2' ended by CR or LF, the
    whole command in the packet) and its flow has a mapping in
    CONTROL_REWRITER, FTPPortMapper

      * finds or makes the data connection's mapping in DATA_REWRITER: the
        flow from the address and port the command names to the control
        packet's destination address, at the control port less one (FTP's
        data port 20 for a server on 21), made as if its first packet had
        come in on input DATA_REWRITER_INPUT (usually a pattern spec);
      * rewrites the command to name the mapped address and port, so the
        server's data connection, sent to that address, reaches the
        rewriter and is translated back to the client;
      * sets the IP length, IP and TCP checksums;
      * tells CONTROL_REWRITER how many bytes the payload grew or shrank,
        so that it shifts the flow's later sequence numbers, and the other
        direction's acknowledgements, to match (see TCPRewriter).

    The control packet's own addresses and ports are left to
    CONTROL_REWRITER.  The data mapping takes the control flow's
    REPLY_ANNO value.  Either end of the control connection may send the
    command.  A retransmitted PORT segment is rewritten to the same text
    and does not shift the sequence numbers twice.

    Left alone (passed unchanged): packets that are not TCP, fragments (a
    command split over fragments cannot change length), payloads that do
    not start with 'PORT ', and commands of a flow CONTROL_REWRITER has no
    mapping for, as in Click.  Also left alone and counted in 'malformed':
    a PORT command that is not six numbers of 0-255 separated by commas
    and ended by CR or LF, a packet whose TCP checksum is wrong (rewriting
    it would make it look right), a command whose new text does not fit
    the packet buffer, and an old segment (before the last rewritten
    command) whose command would now change length otherwise than it did.
    A data mapping that cannot be made (no free port, a full table, a pass
    or drop input spec) leaves the command alone too, counted in
    'mapping_failures'.

    Arguments:
      CONTROL_REWRITER (TCPRewriter name)   the rewriter of the control flows,
                      downstream of this element
      DATA_REWRITER (IPRewriter-like name)  the rewriter the data flows pass
                      through (may be CONTROL_REWRITER)
      DATA_REWRITER_INPUT (integer)   the input of DATA_REWRITER whose spec
                      makes the data mappings

    Example (mazu-nat's):
      ip_from_intern[2] -> FTPPortMapper(tcp_rw, rw, 0) -> [0]tcp_rw;

    Handlers (vforward's; Click's FTPPortMapper has none):
      rewritten (read)          PORT commands rewritten
      malformed (read)          PORT commands left alone as malformed
      mapping_failures (read)   PORT commands left alone for want of a data mapping
      drops (read)              packets dropped: offload state (a device's unfinished
                                checksum or super-frame) that does not parse
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.control_name = args.mandatory("CONTROL_REWRITER").strip()
        self.data_name = args.mandatory("DATA_REWRITER").strip()
        self.data_input = args.mandatory("DATA_REWRITER_INPUT", unsigned)
        args.finish()
        for what, name in (("CONTROL_REWRITER", self.control_name),
                           ("DATA_REWRITER", self.data_name)):
            if not name or len(name.split()) != 1:
                raise ArgumentError(f"{args.where}: {what} must be an element name, "
                                    f"not {name!r}")
        self.rewritten = 0
        self.malformed = 0
        self.mapping_failures = 0
        self.drops = 0

    def initialize(self):
        where = f"{self.location}: {self.name} :: FTPPortMapper"
        control = self.router.elements.get(self.control_name)
        if not isinstance(control, TCPRewriter):
            raise ElementError(f"{where}: CONTROL_REWRITER {self.control_name!r} is not a "
                               "TCPRewriter; name the TCPRewriter the control packets pass "
                               "through")
        data = self.router.elements.get(self.data_name)
        if not isinstance(data, IPRewriter):
            raise ElementError(f"{where}: DATA_REWRITER {self.data_name!r} is not an "
                               "IPRewriter-like element; name an IPRewriter, TCPRewriter or "
                               "UDPRewriter")
        if self.data_input >= len(data.specs):
            raise ElementError(f"{where}: DATA_REWRITER_INPUT {self.data_input} is not an "
                               f"input of {self.data_name!r} (it has inputs "
                               f"0..{len(data.specs) - 1})")
        self.control, self.data = control, data

    def _candidates(self, pool, idx) -> np.ndarray:
        """Packets whose TCP payload starts with 'PORT ' (any case), vectorised."""
        ok = ip_header_mask(pool, idx)
        nh = pool.nh[idx].astype(np.int64)
        end = pool.off[idx].astype(np.int64) + pool.length[idx]
        head = gather(pool, idx, nh, 20)
        th = nh + (head[:, 0] & 15).astype(np.int64) * 4
        # TCP, and no fragment (neither MF nor an offset)
        ok &= (head[:, 9] == 6) & ((head[:, 6] & 0x3F) == 0) & (head[:, 7] == 0)
        ok &= th + 20 <= end
        doff = (gather(pool, idx, th + 12, 1)[:, 0] >> 4).astype(np.int64) * 4
        payload = th + doff
        ok &= payload + 5 <= end
        first = gather(pool, idx, payload, 5)
        ok &= ((first & _UPPER) == _PORT).all(axis=1)
        return np.flatnonzero(ok)

    def process(self, batch):
        # checksums left to finish (a device with offloads) are finished first, as
        # the rewriter downstream would: the command's checksum is checked and redone
        batch, dropped = software_offload(batch)
        self.drops += dropped
        pool, idx = batch.pool, batch.idx
        if len(idx):
            for i in self._candidates(pool, idx).tolist():
                self._rewrite(pool, int(idx[i]))
        return batch

    def _rewrite(self, pool, slot: int) -> None:
        row = pool.data[slot]
        off, nh = int(pool.off[slot]), int(pool.nh[slot])
        end = off + int(pool.length[slot])
        hl = (int(row[nh]) & 15) * 4
        ip_len = int(row[nh + 2]) << 8 | int(row[nh + 3])
        th = nh + hl
        payload = th + (int(row[th + 12]) >> 4) * 4
        if nh + ip_len > end or payload > nh + ip_len:
            self.malformed += 1                 # IP length past the packet's end
            return
        saddr, daddr = (int.from_bytes(row[nh + p:nh + p + 4].tobytes(), "big") for p in (12, 16))
        sport = int(row[th]) << 8 | int(row[th + 1])
        dport = int(row[th + 2]) << 8 | int(row[th + 3])
        control = self.control.table.find(PROTO_TCP, saddr, sport, daddr, dport)
        if control is None:
            return                              # not a flow of ours: Click passes it too
        old = row[payload:nh + ip_len].tobytes()
        parsed = parse_port_argument(old)
        if parsed is None or not self._checksum_ok(pool, slot):
            self.malformed += 1
            return
        start, stop, address, port = parsed
        data_key = (address, port, daddr, (dport - 1) & 0xFFFF)
        entry = self.data.get_entry(PROTO_TCP, data_key, self.data_input)
        if entry is None:
            self.mapping_failures += 1
            return
        new_addr, new_port = self.data.rewritten_flow(*entry)[:2]
        new = old[:start] + port_argument(new_addr, new_port) + old[stop:]
        grow = len(new) - len(old)
        if payload + len(new) > pool.slot_size or nh + ip_len + grow - off > 0xFFFF:
            self.malformed += 1
            return
        f, direction = control
        seq = int.from_bytes(row[th + 4:th + 8].tobytes(), "big")
        if not self.control.update_seqno_delta(f, direction, seq + len(old), grow):
            self.malformed += 1         # an old segment rewritten otherwise than before
            return
        self.data.table.reply_anno[entry[0]] = self.control.table.reply_anno[f]
        # any link-layer trailer after the IP datagram goes with the old payload
        row[payload:payload + len(new)] = np.frombuffer(new, dtype=np.uint8)
        ip_len += grow
        row[nh + 2], row[nh + 3] = ip_len >> 8, ip_len & 255
        pool.length[slot] = nh + ip_len - off
        one = np.array([slot], dtype=np.uint32)
        ipheader.set_ip_checksum(pool, one)
        ipheader.set_transport_checksum(pool, one)
        self.rewritten += 1

    @staticmethod
    def _checksum_ok(pool, slot: int) -> bool:
        ok = np.empty(1, dtype=np.uint8)
        ipheader.udp_tcp_checksum_ok(pool, np.array([slot], dtype=np.uint32), ok)
        return ok[0] != 0          # 0: bad; 1: good; 2: not checkable (kept as Click does)

    @read_handler("rewritten")
    def read_rewritten(self):
        return self.rewritten

    @read_handler("malformed")
    def read_malformed(self):
        return self.malformed

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("mapping_failures")
    def read_mapping_failures(self):
        return self.mapping_failures
