"""FastUDPSource: UDP-in-Ethernet frames at a rate, from one prebuilt template."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import (Args, ArgumentError, boolean, integer, ip_address, mac_address,
                           real, unsigned)

from vforward.elements.ip.icmperror import _checksum
from vforward.elements.standard.ratedsource import RatedSource


def udp_frame(length, src_eth, src_ip, sport, dst_eth, dst_ip, dport, checksum=True) -> bytes:
    """One Ethernet/IPv4/UDP frame of `length` bytes (at least 42), zero payload."""
    length = max(length, 42)
    ip_len, udp_len = length - 14, length - 34
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, ip_len, 0, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    payload = bytes(udp_len - 8)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
    if checksum:
        pseudo = struct.pack("!IIBBH", src_ip, dst_ip, 0, 17, udp_len)
        c = _checksum(pseudo + udp + payload) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c)
    return dst_eth + src_eth + b"\x08\x00" + ip + udp + payload


class FastUDPSource(RatedSource):
    """FastUDPSource(RATE, LIMIT, LENGTH, SRCETH, SRCIP, SPORT, DSTETH, DSTIP, DPORT [, CHECKSUM, INTERVAL, ACTIVE]) -- generate UDP frames fast

    Ports: no inputs, 1 output; agnostic.

    Click's FastUDPSource: Ethernet frames of LENGTH bytes carrying a UDP
    datagram from SRCIP:SPORT to DSTIP:DPORT, at RATE frames per second
    (0: as fast as the router runs), LIMIT in all (-1: forever).  The frame
    is built once, checksums included; every batch is filled by copying it
    into the slots in one numpy store, so no per-packet Python work is done
    (RatedSource's engine, which this element is).  Packets carry their
    creation time in the timestamp annotation.

    Arguments:
      RATE (real)              frames per second; 0 for no limit
      LIMIT (integer)          frames in all; -1 for no limit
      LENGTH (integer)         frame length in bytes, Ethernet header included (>= 42)
      SRCETH, DSTETH (Ethernet address), SRCIP, DSTIP (IP address),
      SPORT, DPORT (integer)   the frame's addresses and ports
      CHECKSUM (boolean, default true)   compute the UDP checksum
      INTERVAL (integer)       accepted for Click compatibility
      ACTIVE (boolean, default true)     whether to send
      STOP (boolean, default false)      stop the router when LIMIT is reached

    Handlers: as RatedSource (count, rate, limit, active, reset ...).
    """

    def configure(self, args):
        rate = args.mandatory("RATE", real)
        limit = args.mandatory("LIMIT", integer)
        length = args.mandatory("LENGTH", unsigned)
        src_eth = args.mandatory("SRCETH", mac_address)
        src_ip = args.mandatory("SRCIP", ip_address)
        sport = args.mandatory("SPORT", unsigned)
        dst_eth = args.mandatory("DSTETH", mac_address)
        dst_ip = args.mandatory("DSTIP", ip_address)
        dport = args.mandatory("DPORT", unsigned)
        checksum = args.positional("CHECKSUM", boolean, default=True)
        args.positional("INTERVAL", integer, default=0)
        active = args.positional("ACTIVE", boolean, default=True)
        stop = args.keyword("STOP", boolean, default=False)
        args.finish()
        if sport > 65535 or dport > 65535:
            raise ArgumentError(f"{args.where}: ports go up to 65535")
        frame = udp_frame(length, src_eth, src_ip, sport, dst_eth, dst_ip, dport, checksum)
        # RatedSource takes DATA as text; a rate of 0 means "no limit" here, as in Click
        super().configure(Args(f"LIMIT {limit}, ACTIVE {str(active).lower()}, "
                               f"RATE {rate if rate > 0 else 1e9}, STOP {str(stop).lower()}",
                               where=args.where))
        self._data = np.frombuffer(frame, dtype=np.uint8).copy()
