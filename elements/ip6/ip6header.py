"""`ip6header`: the compiled IPv6 header kernels (cext/ip6header.pyx), loaded
through vforward.kernels (an error when not built, unless the reference is asked for)."""
from vforward import kernels

ip6header = kernels.load("ip6header")

__all__ = ["ip6header"]
