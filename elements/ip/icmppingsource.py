"""ICMPPingSource: send ICMP echo requests on a timer, match the replies."""
from __future__ import annotations

import ipaddress
import struct
import sys
import time

import numpy as np

from vforward.args import boolean, integer, ip_address, seconds, string, unsigned
from vforward.element import AGNOSTIC, Element, read_handler, write_handler

from vforward.elements.ip.icmperror import _checksum


class ICMPPingSource(Element):
    """ICMPPingSource(SRC, DST [, KEYWORDS]) -- periodically send ICMP echo requests

    Ports: 0 or 1 inputs (push), 1 output (push).

    Every INTERVAL sends an ICMP echo request from SRC to DST (an IPv4
    packet, network header annotation on its start, destination annotation
    DST), with identifier IDENTIFIER and sequence numbers counting from 0,
    LIMIT of them in all.  Echo replies arriving on the input are matched
    to their requests: the element counts them and keeps round-trip times
    (and prints each with VERBOSE).

    Arguments:
      SRC, DST (IP address)            the addresses
      INTERVAL (time, default 1s)      time between requests
      IDENTIFIER (integer, default 0)  the echo identifier
      LIMIT (integer, default -1)      requests in all; -1 for no limit
      DATA (string, default none)      the payload after the 8-byte timestamp
      ACTIVE (boolean, default true)   whether to send
      STOP (boolean, default false)    stop the router after LIMIT requests
      VERBOSE (boolean, default true)  print a line per reply

    Handlers:
      count (read)     requests sent
      received (read)  replies matched
      summary (read)   "N sent, M received, LOSS% loss; rtt min/avg/max = ... ms"
      rtt_min, rtt_avg, rtt_max (read)   round-trip times, milliseconds
      active (read/write), limit (read/write), interval (read/write)
      reset (write)    zero the counts and start again
    """
    PORTS = "0-1/1"
    PROCESSING = "h/h"

    def configure(self, args):
        self.src = args.mandatory("SRC", ip_address)
        self.dst = args.mandatory("DST", ip_address)
        self.interval = args.keyword("INTERVAL", seconds, default=1.0)
        self.ident = args.keyword("IDENTIFIER", unsigned, default=0) & 0xFFFF
        self.limit = args.keyword("LIMIT", integer, default=-1)
        self.data = args.keyword("DATA", string, default="").encode("latin-1")
        self.active = args.keyword("ACTIVE", boolean, default=True)
        self.stop = args.keyword("STOP", boolean, default=False)
        self.verbose = args.keyword("VERBOSE", boolean, default=True)
        args.finish()
        self._timer = None
        self._reset()

    def _reset(self):
        self.count = 0
        self.received = 0
        self.rtts: list[float] = []
        self._sent_at: dict[int, float] = {}

    def initialize(self):
        if self.active:
            self._timer = self.router.call_later(0, self._send)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _packet(self, seq: int) -> bytes:
        payload = struct.pack("!d", time.time()) + self.data
        icmp = struct.pack("!BBHHH", 8, 0, 0, self.ident, seq & 0xFFFF) + payload
        icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(icmp), seq & 0xFFFF, 0, 64, 1, 0,
                         self.src, self.dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        return ip + icmp

    def _send(self):
        self._timer = None
        if not self.active:
            return
        if 0 <= self.limit <= self.count:
            if self.stop:
                self.router.stop(drain=True)
            return
        data = self._packet(self.count)
        pool = self.router.pool
        batch = pool.alloc(1, len(data))
        slot = int(batch.idx[0])
        off = int(pool.off[slot])
        pool.data[slot, off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)
        pool.nh[slot] = off
        pool.dst_ip[slot] = self.dst
        pool.ts_ns[slot] = time.time_ns()
        self._sent_at[self.count & 0xFFFF] = self.router.now()
        self.count += 1
        self.emit(0, batch)
        self._timer = self.router.call_later(self.interval, self._send)

    def push(self, port, batch):
        pool = batch.pool
        now = self.router.now()
        for slot in batch.idx.tolist():
            off, nh = int(pool.off[slot]), int(pool.nh[slot])
            end = off + int(pool.length[slot])
            h = nh if off <= nh < end else off
            ip = pool.data[slot, h:end].tobytes()
            if len(ip) < 28 or ip[9] != 1:
                continue
            hl = (ip[0] & 15) * 4
            typ, _, _, ident, seq = struct.unpack_from("!BBHHH", ip, hl)
            if typ != 0 or ident != self.ident or seq not in self._sent_at:
                continue
            rtt = (now - self._sent_at.pop(seq)) * 1000
            self.received += 1
            self.rtts.append(rtt)
            if self.verbose:
                print(f"{self.name}: {len(ip) - hl} bytes from "
                      f"{ipaddress.IPv4Address(ip[12:16])}: icmp_seq={seq} ttl={ip[8]} "
                      f"time={rtt:.3f} ms", file=sys.stderr)
        batch.kill()

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("received")
    def read_received(self):
        return self.received

    @read_handler("rtt_min")
    def read_rtt_min(self):
        return f"{min(self.rtts):.3f}" if self.rtts else "-"

    @read_handler("rtt_avg")
    def read_rtt_avg(self):
        return f"{sum(self.rtts) / len(self.rtts):.3f}" if self.rtts else "-"

    @read_handler("rtt_max")
    def read_rtt_max(self):
        return f"{max(self.rtts):.3f}" if self.rtts else "-"

    @read_handler("summary")
    def read_summary(self):
        loss = 100.0 * (self.count - self.received) / self.count if self.count else 0.0
        line = f"{self.count} sent, {self.received} received, {loss:.0f}% loss"
        if self.rtts:
            line += f"; rtt min/avg/max = {self.read_rtt_min()}/{self.read_rtt_avg()}/" \
                    f"{self.read_rtt_max()} ms"
        return line

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
        if self.active and self._timer is None and self.router is not None:
            self._timer = self.router.call_later(0, self._send)

    @read_handler("limit")
    def read_limit(self):
        return self.limit

    @write_handler("limit")
    def write_limit(self, value):
        self.limit = integer(value.strip())

    @read_handler("interval")
    def read_interval(self):
        return self.interval

    @write_handler("interval")
    def write_interval(self, value):
        self.interval = seconds(value.strip())

    @write_handler("reset")
    def write_reset(self, value):
        self._reset()
        if self.active and self._timer is None and self.router is not None:
            self._timer = self.router.call_later(0, self._send)
