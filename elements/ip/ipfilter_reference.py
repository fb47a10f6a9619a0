"""The obvious evaluator of IPFilter pattern trees: one packet at a time.

`evaluate(tree, ip)` takes the bytes from the packet's IP header (its nh
annotation) to its end and walks the tree.  The compiled, batch-wide
evaluator (ipfilter_compile.py) must give the same answer for every packet;
the tests run both on the same random packets.
"""
from __future__ import annotations

import operator

from vforward.elements.ip.ipfilter_language import And, Compare, Const, Not, Or, Present

_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def base_offset(base: str, ip: bytes) -> int | None:
    """Where the base header starts in ip: 0, or 4 * IHL for the transport header."""
    if base == "ip":
        return 0
    return 4 * (ip[0] & 0x0F) if ip else None


def field_value(field, ip: bytes) -> int | None:
    """The field's value in this packet, or None when the packet does not hold it."""
    start = base_offset(field.base, ip)
    if start is None or start + field.end > len(ip):
        return None
    raw = int.from_bytes(ip[start + field.offset:start + field.end], "big")
    return (raw >> field.shift) & field.full_mask


def evaluate(node, ip: bytes) -> bool:
    """Does the packet whose IP header and payload are `ip` match the tree?"""
    if isinstance(node, Compare):
        v = field_value(node.field, ip)
        return v is not None and _OPS[node.op](v & node.mask, node.value)
    if isinstance(node, Present):
        start = base_offset(node.base, ip)
        return start is not None and start + node.end <= len(ip)
    if isinstance(node, And):
        return all(evaluate(c, ip) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, ip) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, ip)
    if isinstance(node, Const):
        return node.value
    raise TypeError(f"not a pattern tree node: {node!r}")


def first_match(trees, ip: bytes) -> int | None:
    """The number of the first tree the packet matches, or None."""
    for i, tree in enumerate(trees):
        if evaluate(tree, ip):
            return i
    return None


def ip_bytes(pool, slot: int) -> bytes:
    """A pooled packet's bytes from its IP header annotation to its end; none when
    the annotation points before the packet or the packet runs past its slot."""
    start, nh = int(pool.off[slot]), int(pool.nh[slot])
    end = start + int(pool.length[slot])
    if nh < start or end > pool.slot_size:
        return b""
    return pool.data[slot, nh:max(end, nh)].tobytes()
