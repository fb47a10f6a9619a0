"""Security associations: the keys and counters an ESP tunnel's elements share.

Click's IPsec elements keep a security association (SA) per route of
RadixIPsecLookup: the SPI, a 128-bit encryption key, a 128-bit
authentication key, the sequence number sent next, and the receiver's
replay window.  One SA serves both directions of a tunnel, as in Click: the
two gateways configure the same SPI and keys, each counts what it sends and
remembers what it received.

The lookup element tags each packet with the SA's SPI (the `ipsec_spi`
annotation, Click's IPSEC_SPI_ANNO) and the SA's handle (`ipsec_sa`, where
Click puts a pointer to the SA); the elements behind it find the SA from
the handle (`by_handle`), so that two gateways in one router may use the
same SPI.  Handle 0 means "no SA".

The `ipsec_state` annotation lets the encryption and authentication
elements work in either order (see IPsecAES): on the wire the result is
always RFC 4303's encrypt-then-MAC.
"""
from __future__ import annotations

import hmac as _hmac
import itertools
import weakref

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from vforward.args import string

KEY_SIZE = 16           # Click's KEY_SIZE: AES-128 and a 128-bit HMAC key
ICV_LEN = 12            # HMAC-SHA1-96 (RFC 2404)
SPI_LEN = SEQ_LEN = 4
IV_LEN = 16             # AES-CBC's IV (RFC 3602); Click's is 8 bytes
ESP_HEADER_LEN = SPI_LEN + SEQ_LEN + IV_LEN
BLOCK = 16              # AES block: ESP's padding rounds the payload to it
MAX_SEQ = 0xFFFFFFFF

# ipsec_state bits: where a packet stands between the ESP elements.
ICV_PENDING = 1     # outbound: IPsecAuthHMACSHA1(0) reserved the ICV before encryption
ENCRYPTED = 2       # outbound: IPsecAES(1) encrypted the payload
ICV_GOOD = 4        # inbound: IPsecAES(0) verified the ICV, then decrypted
ICV_BAD = 8         # inbound: IPsecAES(0) found the ICV wrong and left the packet alone
VERIFIED = 16       # inbound: the ICV was verified (and removed, or is for
                    # IPsecAuthHMACSHA1(1) to remove after ICV_GOOD)


class SAError(ValueError):
    """An SA's fields cannot be used; the message names the field and the fix."""


def parse_key(text: str, what: str) -> bytes:
    """A 128-bit key: 32 hex digits (Click's ipsec-router.click writes them so,
    though Click itself reads that word as 32 bytes and refuses it),
    optionally with 0x; Click's \\<HEX> bytes; or a quoted 16-byte string,
    which is what Click reads."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        key = string(t).encode("latin-1")
        if len(key) != KEY_SIZE:
            raise SAError(f"{what} {text} is {len(key)} bytes; a quoted key must be 16 bytes, "
                          "or give 32 hex digits")
        return key
    if t.startswith("\\<") and t.endswith(">"):
        t = t[2:-1]
    t = "".join(t.split())
    if t[:2].lower() == "0x":
        t = t[2:]
    try:
        key = bytes.fromhex(t)
    except ValueError:
        raise SAError(f"{what} '{text}' is not a key in hex; give 32 hex digits "
                      "(a 128-bit key)") from None
    if len(key) != KEY_SIZE:
        raise SAError(f"{what} '{text}' has {len(key) * 8} bits; give 32 hex digits "
                      "(a 128-bit key)")
    return key


def icv(auth_key: bytes, data: bytes) -> bytes:
    """HMAC-SHA1 of data, truncated to its first 96 bits (RFC 2404)."""
    h = crypto_hmac.HMAC(auth_key, hashes.SHA1())
    h.update(data)
    return h.finalize()[:ICV_LEN]


def icv_matches(auth_key: bytes, data: bytes, given: bytes) -> bool:
    """True when `given` is data's ICV; compared in constant time."""
    return _hmac.compare_digest(icv(auth_key, data), given)


_handles = itertools.count(1)
_by_handle: "weakref.WeakValueDictionary[int, SecurityAssociation]" = weakref.WeakValueDictionary()


def by_handle(handle: int) -> "SecurityAssociation | None":
    """The SA whose handle an ipsec_sa annotation holds (None for 0 or a removed SA)."""
    return _by_handle.get(handle) if handle else None


class SecurityAssociation:
    """One SA: SPI, keys, the next sequence number to send and the receive
    window (RFC 4303 section 3.4.3, window of `window` packets).

    REPLAY, Click's replay start counter, is the first sequence number sent
    (1 when given as 0: RFC 4303 never sends 0); the receiver takes the
    numbers below it as already seen, so both ends of a tunnel configured
    alike agree.  A sender that has used 2^32 - 1 stops (the SA must be
    rekeyed; there are no extended sequence numbers), where Click starts again
    from REPLAY.
    """

    def __init__(self, spi: int, enc_key: bytes, auth_key: bytes, replay: int, window: int):
        if not 0 < spi <= MAX_SEQ:
            raise SAError(f"SPI {spi} is not 1..4294967295 (0 is reserved)")
        if not 0 <= replay <= MAX_SEQ:
            raise SAError(f"REPLAY {replay} is not 0..4294967295")
        if not 1 <= window <= 1024:
            raise SAError(f"OOSIZE {window} is not a replay window of 1..1024 packets")
        self.handle = next(_handles)
        _by_handle[self.handle] = self
        self.spi = spi
        self.enc_key = enc_key
        self.auth_key = auth_key
        self.replay_start = replay
        self.window = window
        self.next_seq = max(replay, 1)
        # Receive side: the highest number accepted, and a bit per number of
        # the window below it (bit i: highest - i was received).
        self.highest = max(replay, 1) - 1
        self.bitmap = (1 << window) - 1     # every number up to `highest` counts as received

    def fields(self) -> tuple:
        return self.spi, self.enc_key, self.auth_key, self.replay_start, self.window

    def take_sequence(self) -> int | None:
        """The sequence number for the next packet sent, or None when the SA is used up."""
        seq = self.next_seq
        if seq > MAX_SEQ:
            return None
        self.next_seq = seq + 1
        return seq

    def replayed(self, seq: int) -> bool:
        """True when seq is 0, older than the window, or already received."""
        if seq == 0:
            return True
        if seq > self.highest:
            return False
        diff = self.highest - seq
        return diff >= self.window or bool(self.bitmap >> diff & 1)

    def accept(self, seq: int) -> None:
        """Record seq as received (call after its ICV was verified, RFC 4303 3.4.3)."""
        if seq > self.highest:
            shift = seq - self.highest
            self.bitmap = ((self.bitmap << shift) | 1) & ((1 << self.window) - 1)
            self.highest = seq
        else:
            self.bitmap |= 1 << (self.highest - seq)


class SecurityAssociations:
    """The SAs every RadixIPsecLookup of one router defined, found by SPI: for
    IPsecESPEncap's SPI argument, on packets that carry no SA handle.  A
    table's later changes (its add and set handlers) are seen at once."""

    def __init__(self, router):
        self.tables = [] if router is None else [
            e.security_associations for e in router.elements.values()
            if hasattr(e, "security_associations")]

    def find(self, spi: int) -> SecurityAssociation | None:
        if not spi:
            return None
        for table in self.tables:
            sa = table.get(spi)
            if sa is not None:
                return sa
        return None
