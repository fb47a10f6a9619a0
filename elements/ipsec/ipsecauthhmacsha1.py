"""IPsecAuthHMACSHA1: ESP's integrity check value, HMAC-SHA1-96 (RFC 2404)."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unsigned

from vforward.elements.ipsec.espstage import ESPStage
from vforward.elements.ipsec.securityassociation import (BLOCK, ENCRYPTED, ESP_HEADER_LEN,
                                                         ICV_BAD, ICV_GOOD, ICV_LEN, ICV_PENDING,
                                                         VERIFIED, icv, icv_matches)


class IPsecAuthHMACSHA1(ESPStage):
    """IPsecAuthHMACSHA1(VERIFY) -- add or verify ESP's HMAC-SHA1-96 integrity check value

    Ports: 1 input, 1 or 2 outputs; agnostic.

    With VERIFY 0, appends to each ESP packet its integrity check value
    (ICV): the first 96 bits of HMAC-SHA1 (RFC 2404) over the whole ESP
    packet, SPI to next header, under the authentication key of the SA its
    ipsec_sa annotation names.  With VERIFY 1, checks the ICV of packets
    that start at the SPI and removes it; a packet whose ICV is wrong, or
    that is too short to carry one, is counted in drops and goes out of
    output 1 if it is connected, else it is dropped.

    RFC 4303 computes the ICV over the ciphertext.  After IPsecAES(1) (RFC
    order) this element does that itself; before it (Click's order, as in
    Click's ipsec-router.click) it reserves the 12 bytes and IPsecAES(1)
    fills them in once it has encrypted.  On the way in, after IPsecAES(0)
    (Click's order), IPsecAES has checked the ICV before decrypting and this
    element drops the packets it found forged and removes the ICV of the
    others.  Click's element computes the HMAC over the plaintext
    (MAC-then-encrypt); vforward does not: see IPsecAES.

    The comparison is in constant time.  The key is the SA's 128-bit
    authentication key (RFC 2404 allows keys of any length; Click's are 16
    bytes).

    Arguments:
      VERIFY (0 or 1)   0: compute and append; 1: verify and remove

    Handlers:
      count (read)   packets that got, or passed, their ICV
      drops (read)   packets without an SA, forged or truncated
    """
    PORTS = "1/1-2"

    def configure(self, args):
        op = args.positional("VERIFY", unsigned)
        if op not in (0, 1):
            raise ArgumentError(f"{args.where}: argument VERIFY: give 0 to compute or 1 to "
                                f"verify, not {op}")
        self.verify = op == 1
        super().configure(args)

    def apply(self, pkt, sa):
        return self._check(pkt, sa) if self.verify else self._append(pkt, sa)

    def _append(self, pkt, sa):
        state = pkt.ipsec_state
        if state & ICV_PENDING or pkt.tailroom() < ICV_LEN or pkt.length < ESP_HEADER_LEN:
            return False
        if state & ENCRYPTED:
            whole = pkt.data.tobytes()
            pkt.put(ICV_LEN)[:] = np.frombuffer(icv(sa.auth_key, whole), np.uint8)
        else:
            pkt.put(ICV_LEN)[:] = 0
            pkt.ipsec_state = state | ICV_PENDING
        return True

    def _check(self, pkt, sa):
        state = pkt.ipsec_state
        if state & ICV_BAD or state & VERIFIED:
            return False
        if state & ICV_GOOD:
            if pkt.length < ICV_LEN:
                return False
            pkt.take(ICV_LEN)
            pkt.ipsec_state = (state & ~ICV_GOOD) | VERIFIED
            return True
        data = pkt.data
        if len(data) < ESP_HEADER_LEN + BLOCK + ICV_LEN:
            return False
        end = len(data) - ICV_LEN
        if not icv_matches(sa.auth_key, data[:end].tobytes(), data[end:].tobytes()):
            return False
        pkt.take(ICV_LEN)
        pkt.ipsec_state = state | VERIFIED
        return True

    def reject(self, bad):
        self.drops += len(bad.idx)
        if self.n_outputs > 1:
            self.emit(1, bad)
        else:
            bad.kill()
