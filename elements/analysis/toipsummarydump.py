"""ToIPSummaryDump: one line of chosen header fields per packet."""
from __future__ import annotations

import os
import sys

from vforward.args import ArgumentError, boolean, string, unsigned
from vforward.element import AGNOSTIC, Element, ElementError, read_handler

from .ipsumdump_fields import FieldError, PacketInfo, canonical, unparse


class ToIPSummaryDump(Element):
    """ToIPSummaryDump(FILENAME [, KEYWORDS]) -- write packet summaries, a line each

    Ports: 1 input, 0 or 1 output; agnostic.

    Writes one line per IPv4 packet to FILENAME ('-': standard output)
    holding the FIELDS asked for, separated by spaces, after a header of
    '!' lines (`!IPSummaryDump 1.3`, `!data FIELDS`).  A field that does not
    apply to a packet (sport of an ICMP packet, anything of a non-IP
    packet) is '-'.  The IP header is found at the network header
    annotation.  Packets go on to the output if one is connected.

    Fields (Click's names; synonyms in brackets):
      timestamp [ts], ts_sec, ts_usec, ts_usec1   the timestamp annotation
      ip_src [src], ip_dst [dst], ip_len [len, length], ip_capture_len,
      ip_proto [proto] (T, U, I or a number), ip_hl, ip_id, ip_tos, ip_dscp,
      ip_ecn (no, ect1, ect2, ce), ip_ttl, ip_sum, ip_frag (. ! F f),
      ip_fragoff (bytes, + for MF, ! for DF), ip_opt ('.' for none)
      sport, dport, tcp_seq, tcp_ack, tcp_off, tcp_flags (letters of FSRPAUECN,
      '.' for none), tcp_opt (mss1460;sackok;wscale7;ts1:2;sack1-10,
      Click's form), tcp_window, tcp_urp,
      udp_len, icmp_type, icmp_code, icmp_type_name, icmp_flowid, icmp_seq,
      payload (a quoted string), payload_len, count, link / paint (the paint
      annotation), direction (> for paint 0, < for paint 1), wire_len

    Arguments:
      FILENAME (string)               the file to write
      FIELDS / CONTENTS (words, default ip_src ip_dst)   the fields, in order
      HEADER (boolean, default true)  write the '!' header lines
      VERBOSE (boolean, default false)   accepted
      BANNER (string)                 accepted

    Handlers:
      count (read)      packets written
      filename (read)   FILENAME
    """
    PORTS = "1/0-1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.filename = args.positional("FILENAME", string)
        fields = args.keyword("FIELDS", string, default=None)
        contents = args.keyword("CONTENTS", string, default=None)
        self.header = args.keyword("HEADER", boolean, default=True)
        args.keyword("VERBOSE", boolean, default=False)
        args.keyword("BANNER", string, default=None)
        args.keyword("BINARY", boolean, default=False)
        args.keyword("MULTIPACKET", boolean, default=False)
        args.keyword("BAD_PACKETS", boolean, default=False)
        args.keyword("CAREFUL_TRUNC", boolean, default=True)
        self.burst = args.keyword("BURST", unsigned, default=32)
        args.finish()
        given = (fields or contents or "ip_src ip_dst").replace(",", " ").split()
        try:
            self.fields = [canonical(f) for f in given]
        except FieldError as e:
            raise ArgumentError(f"{args.where}: {e}") from None
        self.names = given
        self.count = 0
        self._out = None
        self._task = None

    def exclusive_resource(self):
        if self.filename == "-":
            return None
        return ("file", os.path.abspath(self.filename))

    def initialize(self):
        try:
            self._out = sys.stdout if self.filename == "-" else open(self.filename, "w")
        except OSError as e:
            raise ElementError(f"{self.location}: {self.name} :: ToIPSummaryDump: "
                               f"{self.filename}: {e.strerror}") from None
        if self.header:
            self._out.write("!IPSummaryDump 1.3\n!creator \"vforward\"\n"
                            f"!data {' '.join(self.names)}\n")
        if self.input_processing[0] == "l" and self.n_outputs == 0:
            self._task = self.router.new_task(self._run, self)
            for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
                q.add_listener(self._task)
            self._task.schedule()

    def cleanup(self):
        if self._out is not None:
            self._out.flush()
            if self._out is not sys.stdout:
                self._out.close()
        self._out = None

    def _write(self, batch):
        if self._out is None:
            return
        pool = batch.pool
        lines = []
        for slot in batch.idx.tolist():
            off, length, nh = int(pool.off[slot]), int(pool.length[slot]), int(pool.nh[slot])
            ip = None
            if off <= nh < off + length:
                ip = pool.data[slot, nh:off + length].tobytes()
            info = PacketInfo(ip, int(pool.paint[slot]), int(pool.ts_ns[slot]), length)
            lines.append(" ".join(unparse(f, info) for f in self.fields) + "\n")
        self._out.write("".join(lines))
        self._out.flush()
        self.count += len(lines)

    def push(self, port, batch):
        self._write(batch)
        if self.n_outputs:
            self.emit(0, batch)
        else:
            batch.kill()

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is not None:
            self._write(batch)
        return batch

    def _run(self):
        batch = self.pull_input(0, self.burst)
        if batch is None:
            return False
        self._write(batch)
        batch.kill()
        return True

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("filename")
    def read_filename(self):
        return self.filename
