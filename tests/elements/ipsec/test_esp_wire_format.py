"""vforward's ESP is RFC 4303's: Wireshark (tshark) decrypts and authenticates
what a gateway sends, and a packet built by hand from the RFCs' layout
crosses into a gateway.  (This kernel has no ESP transform, so Linux's own
xfrm cannot be the peer here.)"""
import os
import shutil
import subprocess

import dpkt
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.elements.ipsec.esptunnel import (AUTH_KEY, ENC_KEY, SPI, gateway, through,
                                            udp_packet)

SRC, DST = "198.51.100.7", "203.0.113.9"


def _tshark(pcap, auth_key):
    sa = (f'"IPv4","192.0.2.1","192.0.2.2","0x{SPI:08x}","AES-CBC [RFC3602]","0x{ENC_KEY}",'
          f'"HMAC-SHA-1-96 [RFC2404]","0x{auth_key}"')
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
         "-o", "esp.enable_authentication_check:TRUE", "-o", f"uat:esp_sa:{sa}",
         "-T", "fields", "-E", "separator=|", "-e", "esp.sequence", "-e", "esp.icv_good",
         "-e", "esp.protocol", "-e", "ip.src", "-e", "udp.payload"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("|") for line in out.stdout.splitlines()]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark (make setup installs it)")
def test_wireshark_decrypts_and_authenticates_what_the_gateway_sends(make_router, tmp_path):
    a = gateway(make_router, "A")
    payloads = [b"", b"hello tshark", os.urandom(1000)]
    wire = through(a, [udp_packet(SRC, DST, p) for p in payloads])
    pcap = tmp_path / "esp.pcap"
    with open(pcap, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=101)       # raw IP
        for p in wire:
            w.writepkt(p, ts=1.0)
    rows = _tshark(pcap, AUTH_KEY)
    assert [r[:4] for r in rows] == [[str(i), "1", "0x04", f"192.0.2.1,{SRC}"] for i in (1, 2, 3)]
    assert [bytes.fromhex(r[4].replace(":", "")) for r in rows] == payloads
    # With another authentication key the ICV no longer checks: the check is real.
    assert [r[1] for r in _tshark(pcap, "00" * 16)] == ["0", "0", "0"]


def _rfc4303_packet(inner: bytes, seq: int) -> bytes:
    """ESP in tunnel mode built from RFC 4303 section 2 and RFC 3602 / 2404 directly."""
    padlen = (-(len(inner) + 2)) % 16
    plain = inner + bytes(range(1, padlen + 1)) + bytes([padlen, 4])
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(bytes.fromhex(ENC_KEY)), modes.CBC(iv)).encryptor()
    esp = SPI.to_bytes(4, "big") + seq.to_bytes(4, "big") + iv + enc.update(plain) + enc.finalize()
    mac = hmac.HMAC(bytes.fromhex(AUTH_KEY), hashes.SHA1())
    mac.update(esp)
    esp += mac.finalize()[:12]
    outer = dpkt.ip.IP(src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2]), p=50, ttl=64,
                       data=esp)
    outer.len = 20 + len(esp)
    return bytes(outer)


def test_a_packet_built_from_the_rfcs_crosses_into_the_gateway(make_router):
    b = gateway(make_router, "B")
    inner = [udp_packet(SRC, DST, os.urandom(n)) for n in (0, 1, 15, 16, 17, 500)]
    got = through(b, [_rfc4303_packet(p, seq) for seq, p in enumerate(inner, 1)], sink="inner")
    assert got == inner
