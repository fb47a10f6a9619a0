"""IPsecAES: AES-128-CBC over an ESP packet's payload (RFC 3602)."""
from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vforward.args import ArgumentError, unsigned

from vforward.elements.ipsec.espstage import ESPStage
from vforward.elements.ipsec.securityassociation import (BLOCK, ENCRYPTED, ESP_HEADER_LEN,
                                                         ICV_BAD, ICV_GOOD, ICV_LEN, ICV_PENDING,
                                                         SPI_LEN, VERIFIED, icv, icv_matches)

IV_AT = SPI_LEN + 4


def _cbc(key: bytes, iv: bytes, body: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(body) + op.finalize()


class IPsecAES(ESPStage):
    """IPsecAES(ENCRYPT) -- encrypt or decrypt ESP packets with AES-128-CBC

    Ports: 1 input, 1 output; agnostic.

    With ENCRYPT 1, encrypts the payload of ESP packets from
    IPsecESPEncap (everything after the IV: the inner packet, padding, pad
    length and next header) with AES-128 in CBC mode (RFC 3602), the key
    of the SA the packet's ipsec_sa annotation names and the packet's own
    IV.  With ENCRYPT 0, decrypts packets whose IP header StripIPHeader
    removed, so that they start at the SPI.

    The wire format is RFC 4303's encrypt-then-MAC, whichever order the
    configuration gives this element and IPsecAuthHMACSHA1:

    - RFC order (IPsecAES(1) -> IPsecAuthHMACSHA1(0), and
      IPsecAuthHMACSHA1(1) -> IPsecAES(0)): each element does its own part.
    - Click's order, as in Click's ipsec-router.click
      (IPsecAuthHMACSHA1(0) -> IPsecAES(1), and IPsecAES(0) ->
      IPsecAuthHMACSHA1(1)): IPsecAuthHMACSHA1(0) only reserves the ICV's
      12 bytes, and this element fills them in after encrypting; on the way
      in, this element verifies the ICV before it decrypts (RFC 4303 section
      3.4.4), leaves a forged packet undecrypted, and IPsecAuthHMACSHA1(1)
      drops and counts it, or removes the ICV of a good one.

    Click's IPsecAES is not RFC 3602: it is MAC-then-encrypt, uses
    IPsecESPEncap's 8-byte IV and XORs only the first 8 bytes of each
    16-byte block with it (then with the previous block's first 8 bytes),
    and, as Click pads to 8 bytes, encrypts the first 8 bytes of the ICV
    when the payload is not a whole number of blocks.  vforward follows the
    RFCs, so that its ESP is any RFC 4303 implementation's (the transforms
    Linux calls cbc(aes) and hmac(sha1) truncated to 96 bits; Wireshark
    decrypts and checks it), and not Click's.

    Packets without an SA, too short, or whose payload is not a whole number
    of blocks are dropped and counted.

    Arguments:
      ENCRYPT (0 or 1)   1: encrypt; 0: decrypt

    Handlers:
      count (read)   packets encrypted or decrypted (or found forged, with
                     ENCRYPT 0 before the authentication element)
      drops (read)   packets dropped
    """

    def configure(self, args):
        op = args.positional("ENCRYPT", unsigned)
        if op not in (0, 1):
            raise ArgumentError(f"{args.where}: argument ENCRYPT: give 1 to encrypt or 0 to "
                                f"decrypt, not {op}")
        self.encrypt = op == 1
        super().configure(args)

    def apply(self, pkt, sa):
        return self._encrypt(pkt, sa) if self.encrypt else self._decrypt(pkt, sa)

    def _encrypt(self, pkt, sa):
        state = pkt.ipsec_state
        if state & ENCRYPTED:
            return False
        data = pkt.data
        tail = ICV_LEN if state & ICV_PENDING else 0
        end = len(data) - tail
        body = data[ESP_HEADER_LEN:end]
        if end <= ESP_HEADER_LEN or len(body) % BLOCK:
            return False
        iv = data[IV_AT:ESP_HEADER_LEN].tobytes()
        body[:] = np.frombuffer(_cbc(sa.enc_key, iv, body.tobytes(), True), np.uint8)
        if tail:
            data[end:] = np.frombuffer(icv(sa.auth_key, data[:end].tobytes()), np.uint8)
        pkt.ipsec_state = (state & ~ICV_PENDING) | ENCRYPTED
        return True

    def _decrypt(self, pkt, sa):
        state = pkt.ipsec_state
        data = pkt.data
        tail = 0 if state & VERIFIED else ICV_LEN
        end = len(data) - tail
        if end < ESP_HEADER_LEN + BLOCK or (end - ESP_HEADER_LEN) % BLOCK:
            return False
        if tail:
            # Click's order: the ICV is checked here, before decrypting, and
            # the verdict goes to IPsecAuthHMACSHA1(1) in the annotation.
            if not icv_matches(sa.auth_key, data[:end].tobytes(), data[end:].tobytes()):
                pkt.ipsec_state = state | ICV_BAD
                return True
            state |= ICV_GOOD
        body = data[ESP_HEADER_LEN:end]
        iv = data[IV_AT:ESP_HEADER_LEN].tobytes()
        body[:] = np.frombuffer(_cbc(sa.enc_key, iv, body.tobytes(), False), np.uint8)
        pkt.ipsec_state = state
        return True
