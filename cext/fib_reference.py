"""FibReference: the plain-Python twin of fib.pyx's Fib, simple and obviously right.

One dict per prefix length maps a masked prefix to its next hop; a lookup
tries /32 down to /0 and returns the first hit. Same API, same errors as Fib;
the tests hold the compiled table to this one.
"""
import numpy as np

NO_ROUTE = 0xFFFF
MAX_NEXT_HOP = 0xFFFE


def _netmask(plen):
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def _check_route(prefix, plen):
    if not 0 <= plen <= 32:
        raise ValueError(f"prefix length {plen} is out of range: an IPv4 prefix length is 0..32")
    if not 0 <= prefix <= 0xFFFFFFFF:
        raise ValueError(f"prefix {prefix} is not an IPv4 address: give a host-order integer 0..0xFFFFFFFF")


def _check_nh(nh):
    if not 0 <= nh <= MAX_NEXT_HOP:
        raise ValueError(f"next hop {nh} is out of range: next hops are 0..65534 (65535 is NO_ROUTE)")


class FibReference:
    """IPv4 longest-prefix match with a dict per prefix length."""

    def __init__(self):
        self._by_len = [dict() for _ in range(33)]

    def insert(self, prefix, plen, nh):
        prefix, plen, nh = int(prefix), int(plen), int(nh)
        _check_route(prefix, plen)
        _check_nh(nh)
        self._by_len[plen][prefix & _netmask(plen)] = nh

    def delete(self, prefix, plen):
        prefix, plen = int(prefix), int(plen)
        _check_route(prefix, plen)
        return self._by_len[plen].pop(prefix & _netmask(plen), None) is not None

    def get(self, prefix, plen):
        prefix, plen = int(prefix), int(plen)
        _check_route(prefix, plen)
        return self._by_len[plen].get(prefix & _netmask(plen))

    def lookup(self, addr):
        addr = int(addr)
        if not 0 <= addr <= 0xFFFFFFFF:
            raise ValueError(f"address {addr} is not an IPv4 address: give a host-order integer 0..0xFFFFFFFF")
        for plen in range(32, -1, -1):
            routes = self._by_len[plen]
            if routes:
                nh = routes.get(addr & _netmask(plen))
                if nh is not None:
                    return nh
        return NO_ROUTE

    def lookup_batch(self, addrs, out=None):
        addrs = np.asarray(addrs)
        if out is None:
            out = np.empty(len(addrs), dtype=np.uint16)
        for i, a in enumerate(addrs.tolist()):
            out[i] = self.lookup(a)
        return out if len(out) == len(addrs) else out[:len(addrs)]

    def lookup_indexed(self, addrs, idx, out):
        for i, j in enumerate(np.asarray(idx).tolist()):
            if j >= len(addrs):
                raise IndexError(f"idx[{i}] = {j} is past the end of addrs ({len(addrs)} entries)")
            out[i] = self.lookup(int(addrs[j]))

    def load(self, prefixes, plens, nhs):
        """Replace the whole table with these routes; later duplicates win."""
        if not len(prefixes) == len(plens) == len(nhs):
            raise ValueError(f"prefixes, plens and nhs differ in length "
                             f"({len(prefixes)}, {len(plens)}, {len(nhs)})")
        routes = list(zip(np.asarray(prefixes).tolist(), np.asarray(plens).tolist(),
                          np.asarray(nhs).tolist()))
        for i, (prefix, plen, nh) in enumerate(routes):   # check all before changing anything
            if not 0 <= prefix <= 0xFFFFFFFF:
                raise ValueError(f"prefixes[{i}] = {prefix} is out of range 0..{0xFFFFFFFF}")
            if not 0 <= plen <= 32:
                raise ValueError(f"plens[{i}] = {plen} is out of range: an IPv4 prefix length is 0..32")
            if not 0 <= nh <= MAX_NEXT_HOP:
                raise ValueError(f"nhs[{i}] = {nh} is out of range: next hops are 0..65534 "
                                 f"(65535 is NO_ROUTE)")
        self.clear()
        for prefix, plen, nh in routes:
            self.insert(prefix, plen, nh)

    def clear(self):
        for d in self._by_len:
            d.clear()

    def __len__(self):
        return sum(len(d) for d in self._by_len)

    def routes(self):
        """Iterator of (prefix, plen, nh), sorted by prefix then length."""
        return iter(sorted((p, plen, nh) for plen, d in enumerate(self._by_len)
                           for p, nh in d.items()))
