"""`ip6header`: the compiled IPv6 header kernels (cext/ip6header.pyx), or their
plain-Python twin when the extension is not built."""
try:
    from vforward.cext import ip6header
except ImportError:             # not built yet: the reference gives the same bytes, slower
    from vforward.cext import ip6header_reference as ip6header

__all__ = ["ip6header"]
