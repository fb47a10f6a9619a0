"""Fib6Reference: the plain-Python twin of fib6.pyx's Fib6, simple and obviously right.

One dict per prefix length maps a masked prefix to its next hop; a lookup
tries /128 down to /0 (only the lengths that hold routes) and returns the
first hit.  Same API, same errors as Fib6; the tests hold the compiled table
to this one.

Addresses are Python ints 0..2**128-1 (or 16 network-order bytes) in the
scalar calls, and rows of a (n, 16) uint8 array, network byte order, in the
batch calls: the layout of the address in the packet and of the pool's
dst_ip6 annotation.
"""
import numpy as np

NO_ROUTE = 0xFFFF
MAX_NEXT_HOP = 0xFFFE
ALL_ONES = (1 << 128) - 1


def netmask6(plen):
    return (ALL_ONES << (128 - plen)) & ALL_ONES


def address6(addr, what="address"):
    """An IPv6 address as an int, from an int or 16 network-order bytes."""
    if isinstance(addr, (bytes, bytearray, memoryview)):
        if len(addr) != 16:
            raise ValueError(f"{what} is {len(addr)} bytes: an IPv6 address is 16 bytes")
        return int.from_bytes(addr, "big")
    addr = int(addr)
    if not 0 <= addr <= ALL_ONES:
        raise ValueError(f"{what} {addr} is not an IPv6 address: give an integer "
                         "0..2**128-1 or 16 bytes")
    return addr


def check_plen6(plen):
    if not 0 <= plen <= 128:
        raise ValueError(f"prefix length {plen} is out of range: an IPv6 prefix length is 0..128")


def check_nh6(nh):
    if not 0 <= nh <= MAX_NEXT_HOP:
        raise ValueError(f"next hop {nh} is out of range: next hops are 0..65534 (65535 is NO_ROUTE)")


def rows6(addrs, what="addrs"):
    """A (n, 16) uint8 array of addresses; a clear error for anything else."""
    arr = np.asarray(addrs)
    if arr.ndim != 2 or arr.shape[1] != 16 or arr.dtype != np.uint8:
        raise ValueError(f"{what} must be a (n, 16) uint8 array of network-order IPv6 "
                         f"addresses, got shape {arr.shape} dtype {arr.dtype}")
    return arr


def _batch6(prefixes, plens, nhs):
    """The rows, lengths and next hops (None: not given) of a batch of routes as
    lists, all checked: a clear error before anything changes."""
    prefixes = rows6(prefixes, "prefixes")
    if len(plens) != len(prefixes) or (nhs is not None and len(nhs) != len(prefixes)):
        raise ValueError(f"prefixes, plens and nhs differ in length ({len(prefixes)}, "
                         f"{len(plens)}" + (f", {len(nhs)})" if nhs is not None else ")"))
    plens = np.asarray(plens).tolist()
    for i, plen in enumerate(plens):
        if not 0 <= plen <= 128:
            raise ValueError(f"plens[{i}] = {plen} is out of range: an IPv6 prefix "
                             "length is 0..128")
    if nhs is not None:
        nhs = np.asarray(nhs).tolist()
        for i, nh in enumerate(nhs):
            if not 0 <= nh <= MAX_NEXT_HOP:
                raise ValueError(f"nhs[{i}] = {nh} is out of range: next hops are 0..65534 "
                                 "(65535 is NO_ROUTE)")
    return prefixes, plens, nhs


class Fib6Reference:
    """IPv6 longest-prefix match with a dict per prefix length."""

    def __init__(self):
        self._by_len = [dict() for _ in range(129)]

    def insert(self, prefix, plen, nh):
        prefix, plen, nh = address6(prefix, "prefix"), int(plen), int(nh)
        check_plen6(plen)
        check_nh6(nh)
        self._by_len[plen][prefix & netmask6(plen)] = nh

    def delete(self, prefix, plen):
        prefix, plen = address6(prefix, "prefix"), int(plen)
        check_plen6(plen)
        return self._by_len[plen].pop(prefix & netmask6(plen), None) is not None

    def get(self, prefix, plen):
        prefix, plen = address6(prefix, "prefix"), int(plen)
        check_plen6(plen)
        return self._by_len[plen].get(prefix & netmask6(plen))

    def lookup(self, addr):
        addr = address6(addr)
        for plen in range(128, -1, -1):
            routes = self._by_len[plen]
            if routes:
                nh = routes.get(addr & netmask6(plen))
                if nh is not None:
                    return nh
        return NO_ROUTE

    def lookup_batch(self, addrs, out=None):
        addrs = rows6(addrs)
        if out is None:
            out = np.empty(len(addrs), dtype=np.uint16)
        for i in range(len(addrs)):
            out[i] = self.lookup(addrs[i].tobytes())
        return out if len(out) == len(addrs) else out[:len(addrs)]

    def lookup_indexed(self, addrs, idx, out):
        addrs = rows6(addrs)
        for i, j in enumerate(np.asarray(idx).tolist()):
            if j >= len(addrs):
                raise IndexError(f"idx[{i}] = {j} is past the end of addrs ({len(addrs)} entries)")
            out[i] = self.lookup(addrs[j].tobytes())

    def load(self, prefixes, plens, nhs):
        """Replace the whole table with these routes; later duplicates win."""
        prefixes, plens, nhs = _batch6(prefixes, plens, nhs)
        self.clear()
        self.insert_many(prefixes, plens, nhs)

    def insert_many(self, prefixes, plens, nhs):
        """insert() of every row in order; all checked before any goes in."""
        prefixes, plens, nhs = _batch6(prefixes, plens, nhs)
        for i in range(len(plens)):
            self.insert(prefixes[i].tobytes(), plens[i], nhs[i])

    def delete_many(self, prefixes, plens):
        """delete() of every row in order; the number of routes that were there."""
        prefixes, plens, _ = _batch6(prefixes, plens, None)
        return sum(self.delete(prefixes[i].tobytes(), plens[i]) for i in range(len(plens)))

    def clear(self):
        for d in self._by_len:
            d.clear()

    def __len__(self):
        return sum(len(d) for d in self._by_len)

    def routes(self):
        """Iterator of (prefix int, plen, nh), sorted by prefix then length."""
        return iter(sorted((p, plen, nh) for plen, d in enumerate(self._by_len)
                           for p, nh in d.items()))


Fib6 = Fib6Reference    # the compiled module's name, for vforward.kernels.load("fib6")
