"""Element argument parsing shared by every element (Click's Args).

A configuration string `Queue(1000, BURST 32)` is split at top-level commas
into arguments; an argument that starts with an upper-case word followed by
white space (or alone) is a keyword argument, the rest are positional, as in
Click.  Elements declare what they read:

    self.capacity = args.positional("CAPACITY", integer, default=1000)
    self.burst = args.keyword("BURST", integer, default=32)
    args.finish()

and every mistake becomes an `ArgumentError` naming the element, the
argument and what a valid value looks like.
"""
from __future__ import annotations

import ipaddress
import re
import sys

from vforward.config.errors import did_you_mean


class ArgumentError(ValueError):
    """A bad element argument; the message names the argument and the fix."""


# -- splitting ----------------------------------------------------------

_OPEN = "([{"
_CLOSE = ")]}"


def split_args(text: str) -> list[str]:
    """Split at commas that are outside quotes and brackets; strip each piece."""
    out, cur, depth, quote, i = [], [], 0, None, 0
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur.append(c)
        elif c in _OPEN:
            depth += 1
            cur.append(c)
        elif c in _CLOSE:
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    last = "".join(cur).strip()
    if out or last:
        out.append(last)
    return out


_KEYWORD = re.compile(r"^([A-Z][A-Z0-9_]*)(?:\s+(.*))?$", re.S)


def split_keyword(arg: str) -> tuple[str | None, str]:
    """('KEY', 'value') for a keyword argument, (None, arg) for a positional one."""
    m = _KEYWORD.match(arg)
    if not m:
        return None, arg
    return m.group(1), (m.group(2) or "").strip()


_HEX_BYTES = re.compile(r"\\<([0-9A-Fa-f\s]*)>")


def unquote(text: str) -> str:
    """Remove one level of double or single quotes, with backslash escapes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        body = text[1:-1]
        if "\\" not in body or text[0] == "'":
            return body
        # Click's \<HEX> (bytes in hex) may sit among the other escapes
        out, last = [], 0
        for m in _HEX_BYTES.finditer(body):
            out.append(bytes(body[last:m.start()], "utf-8").decode("unicode_escape"))
            out.append(bytes.fromhex("".join(m.group(1).split())).decode("latin-1"))
            last = m.end()
        out.append(bytes(body[last:], "utf-8").decode("unicode_escape"))
        return "".join(out)
    return text


# -- value types: each takes the argument text and returns a value ------

def integer(text: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise ArgumentError(f"expected an integer, got {text!r}") from None


def unsigned(text: str) -> int:
    v = integer(text)
    if v < 0:
        raise ArgumentError(f"expected a non-negative integer, got {text!r}")
    return v


def real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ArgumentError(f"expected a number, got {text!r}") from None


def boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "1", "on"):
        return True
    if t in ("false", "no", "0", "off"):
        return False
    raise ArgumentError(f"expected true or false, got {text!r}")


def string(text: str) -> str:
    """A string, unquoted; Click's \\<HEX> writes bytes in hex (\\<0800 45>), in
    quotes or out of them; each byte becomes one latin-1 character."""
    t = text.strip()
    if len(t) >= 2 and t[0] == '"' == t[-1] and '"' not in t[1:-1].replace('\\"', ""):
        return unquote(t)           # one quoted string: its escapes, \<HEX> among them
    if "\\<" in text:
        def hexbytes(m):
            digits = "".join(m.group(1).split())
            if len(digits) % 2:
                raise ArgumentError(f"\\<{m.group(1)}> has an odd number of hex digits")
            return bytes.fromhex(digits).decode("latin-1")
        parts, last = [], 0
        for m in _HEX_BYTES.finditer(text):
            parts += [unquote(text[last:m.start()]) if text[last:m.start()].strip() else "",
                      hexbytes(m)]
            last = m.end()
        tail = text[last:]
        return "".join(parts) + (unquote(tail) if tail.strip() else "")
    return unquote(text)


def word(text: str) -> str:
    t = unquote(text)
    if not t or any(c.isspace() for c in t):
        raise ArgumentError(f"expected a single word, got {text!r}")
    return t


def anything(text: str) -> str:
    return text


_TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "msec": 1e-3, "us": 1e-6,
               "usec": 1e-6, "ns": 1e-9, "nsec": 1e-9, "m": 60.0, "min": 60.0, "h": 3600.0,
               "hr": 3600.0}


def seconds(text: str) -> float:
    """A time such as 10ms, 1.5s, 250us, 2min; plain numbers are seconds (Click)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _TIME_UNITS:
        raise ArgumentError(f"expected a time such as 10ms, 1.5s or 250us, got {text!r}")
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


# Rate units: bits per second are matched case-insensitively (10Mbps, 10mbit),
# byte units exactly (1MBps), since "MBps" and "Mbps" differ only in case.
_RATE_BITS = {"bps": 1, "bit": 1, "baud": 1, "kbps": 1e3, "kbit": 1e3, "mbps": 1e6,
              "mbit": 1e6, "gbps": 1e9, "gbit": 1e9, "b/s": 1, "kb/s": 1e3, "mb/s": 1e6,
              "gb/s": 1e9}
_RATE_BYTES = {"": 1, "Bps": 1, "B/s": 1, "kBps": 1e3, "KBps": 1e3, "MBps": 1e6, "GBps": 1e9}


def bandwidth(text: str) -> float:
    """A rate in bytes per second, as Click's BandwidthArg returns it.

    Accepts bits (10Mbps, 10mbit, 1Gbps, 64kbps) and bytes (1MBps, 500Bps);
    a bare number is bytes per second, as in Click.
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([a-zA-Z/]*)\s*", text)
    if m:
        value, unit = float(m.group(1)), m.group(2)
        if unit in _RATE_BYTES:
            return value * _RATE_BYTES[unit]
        if unit.lower() in _RATE_BITS:
            return value * _RATE_BITS[unit.lower()] / 8.0
    raise ArgumentError(f"expected a rate such as 10Mbps, 1Gbps or 500kBps, got {text!r}")


# -- names for addresses (AddressInfo) ------------------------------------
#
# While a graph is being configured, AddressInfo elements name addresses:
# `AddressInfo(eth0 10.0.0.1/24 00:11:22:33:44:55)`.  Every parser below
# then takes the name where an address goes, with Click's suffixes:
# `eth0` or `eth0:ip` (10.0.0.1), `eth0:ipnet` (10.0.0.0/24), `eth0:bcast`
# (10.0.0.255), `eth0:eth` (the Ethernet address).

_address_scopes: list[dict] = []


class address_scope:
    """`with address_scope():` the names AddressInfo defines while configuring one graph;
    `with address_scope(names):` those names again (a handler reconfiguring at run time)."""

    def __init__(self, names: dict | None = None):
        self._names = names

    def __enter__(self):
        _address_scopes.append(dict(self._names or {}))
        return _address_scopes[-1]

    def __exit__(self, *exc):
        _address_scopes.pop()


def define_address(name: str, kind: str, value) -> None:
    """Name an address: kind is 'ip' ((address, prefix length)) or 'eth' (6 bytes)."""
    if not _address_scopes:
        raise ArgumentError("addresses can be named only while a configuration is read")
    _address_scopes[-1].setdefault(name, {})[kind] = value


def named_address(text: str, kinds: tuple[str, ...]):
    """(suffix, value) for NAME or NAME:SUFFIX defined by AddressInfo, else None.
    For parsers of an element's own language (route tables, ARP entries)."""
    name, _, suffix = text.partition(":")
    entry = _address_scopes[-1].get(name) if _address_scopes else None
    if entry is None:
        # Click's rule: a host device's name stands for its own addresses
        from vforward.host_device_addresses import device_entry
        entry = device_entry(name)
        if suffix == "gw" and entry is not None and "gw" in entry and "ip" in kinds:
            return "ip", entry["gw"]
    if entry is None or (suffix and suffix not in kinds):
        return None
    if suffix in ("ip", "ipnet", "bcast", ""):
        if "ip" in entry and (suffix or "ip" in kinds):
            return suffix or "ip", entry["ip"]
    if suffix in ("eth", "") and "eth" in entry and (suffix or "eth" in kinds):
        return "eth", entry["eth"]
    return None


def _device_deferred(text: str) -> bool:
    """A static check (vforward check) takes an unknown device name for the device's
    address, to be read when the router runs."""
    from vforward.host_device_addresses import defer_missing_device
    name, _, suffix = text.strip().partition(":")
    return suffix in ("", "ip", "eth", "ipnet", "bcast", "gw") and defer_missing_device(name)


def _device_hint(text: str) -> str:
    from vforward.host_device_addresses import missing_device_hint
    return missing_device_hint(text)


def _mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def ip_address(text: str) -> int:
    """IPv4 address as a host-byte-order integer (or an AddressInfo name)."""
    t = unquote(text)
    try:
        return int(ipaddress.IPv4Address(t))
    except ValueError:
        named = named_address(t.strip(), ("ip", "bcast"))
        if named is not None:
            suffix, (addr, plen) = named
            return addr | (~_mask(plen) & 0xFFFFFFFF) if suffix == "bcast" else addr
        if _device_deferred(t):
            return 0
        raise ArgumentError(f"expected an IPv4 address such as 10.0.0.1, got {text!r}"
                            f"{_device_hint(t)}") from None


def ip_prefix(text: str) -> tuple[int, int]:
    """(network, prefix length) from 10.0.0.0/8, 10.0.0.0 255.0.0.0, a bare address
    (/32) or an AddressInfo name (NAME:ipnet for its network, NAME or NAME:ip for /32)."""
    t = " ".join(unquote(text).split())
    named = named_address(t, ("ip", "ipnet", "bcast"))
    if named is not None:
        suffix, (addr, plen) = named
        if suffix == "ipnet":
            return addr & _mask(plen), plen
        if suffix == "bcast":
            return addr | (~_mask(plen) & 0xFFFFFFFF), 32
        return addr, 32
    if " " in t:
        t = t.replace(" ", "/", 1)
    addr, slash, plen = t.partition("/")
    if slash and re.fullmatch(r"\d{1,3}(\.\d{1,3}){0,2}", addr):
        t = ".".join((addr.split(".") + ["0"] * 3)[:4]) + "/" + plen   # Click's 0/0, 10/8
    try:
        net = ipaddress.IPv4Network(t, strict=False)
    except ValueError:
        if _device_deferred(t):
            return 0, 32
        raise ArgumentError(f"expected an IPv4 prefix such as 10.0.0.0/8, got {text!r}"
                            f"{_device_hint(t)}") from None
    return int(net.network_address), net.prefixlen


def ip_address_and_prefix(text: str) -> tuple[int, int]:
    """(address, prefix length) keeping host bits, as KernelTun's ADDR/MASK wants."""
    t = unquote(text).strip()
    named = named_address(t, ("ip", "ipnet"))
    if named is not None:
        return named[1]
    addr, _, plen = t.partition("/")
    a = ip_address(addr)
    if not plen:
        return a, 32
    try:
        return a, ipaddress.IPv4Network(f"0.0.0.0/{plen}").prefixlen
    except ValueError:
        raise ArgumentError(f"expected an address with prefix such as 10.0.0.1/24, got {text!r}") from None


def mac_address(text: str) -> bytes:
    named = named_address(unquote(text).strip(), ("eth",))
    if named is not None:
        return named[1]
    t = unquote(text).replace("-", ":")
    parts = t.split(":")
    if len(parts) != 6 or not all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        if _device_deferred(unquote(text)):
            return bytes(6)
        raise ArgumentError(f"expected an Ethernet address such as 00:11:22:33:44:55, got "
                            f"{text!r}{_device_hint(unquote(text))}")
    return bytes(int(p, 16) for p in parts)


# -- warnings while an element is configured --------------------------------
#
# A warning about an element's configuration (an older Click form read as
# today's, a route given twice) names the element's place in the file, as
# the configuration's errors do: `router.click:12:5: warning: ...`.  The
# graph builder says which element is being configured; a handler that
# reconfigures an element at run time has no place, and its warnings none.

_configuring: list = []


class configuring:
    """`with configuring(loc):` warnings given meanwhile are placed at `loc`
    (a config Location: the element's declaration)."""

    def __init__(self, loc):
        self._loc = loc

    def __enter__(self):
        _configuring.append(self._loc)
        return self._loc

    def __exit__(self, *exc):
        _configuring.pop()


def configure_location():
    """The place of the element being configured, or None."""
    return _configuring[-1] if _configuring else None


def configure_warning(message: str) -> None:
    """Print a warning about the configuration being read, at its element's place."""
    loc = configure_location()
    print(f"{loc}: warning: {message}" if loc is not None else f"warning: {message}",
          file=sys.stderr)


_MISSING = object()


class Args:
    """The arguments of one element's configuration string, consumed by name."""

    def __init__(self, config: str, where: str = "element"):
        self.where = where
        self._positional: list[str] = []
        self._keywords: dict[str, str] = {}
        self._raw = split_args(config)
        self._order_error: ArgumentError | None = None
        for arg in self._raw:
            key, value = split_keyword(arg)
            if key is None or not value:
                # A bare capitalised word (Print(OK), ControlSocket(TCP, 80)) is
                # positional unless the element asks for a keyword of that name.
                if self._keywords and key is None and self._order_error is None:
                    # Raised only if the element reads positional arguments: elements
                    # with their own language (IPFilter) read `raw` instead.
                    self._order_error = ArgumentError(
                        f"{where}: positional argument {arg!r} after keyword arguments; "
                        "put positional arguments first")
                self._positional.append(arg)
            else:
                if key in self._keywords:
                    raise ArgumentError(f"{where}: keyword {key} given twice")
                self._keywords[key] = value
        self._next = 0
        self._known: list[str] = []

    def warn(self, message: str) -> None:
        """A warning about this configuration, naming the element and its place."""
        configure_warning(f"{self.where}: {message}")

    @property
    def raw(self) -> list[str]:
        """Every argument as written, for elements that parse their own language."""
        return list(self._raw)

    def _convert(self, name, kind, text):
        try:
            return kind(text)
        except ArgumentError as e:
            raise ArgumentError(f"{self.where}: argument {name}: {e}") from None

    def _bare_word(self, name: str):
        """Take an unread bare word equal to keyword `name` (a keyword with no value)."""
        for i in range(self._next, len(self._positional)):
            if self._positional[i] == name:
                return self._positional.pop(i)
        return None

    def positional(self, name: str, kind=anything, default=_MISSING):
        """The next positional argument, which may also be given as keyword NAME."""
        if self._order_error is not None:
            raise self._order_error
        self._known.append(name)
        if name in self._keywords:
            return self._convert(name, kind, self._keywords.pop(name))
        if self._next < len(self._positional):
            text = self._positional[self._next]
            self._next += 1
            return self._convert(name, kind, text)
        if default is _MISSING:
            raise ArgumentError(f"{self.where}: missing argument {name}")
        return default

    def mandatory(self, name: str, kind=anything):
        return self.positional(name, kind)

    def keyword(self, name: str, kind=anything, default=_MISSING):
        """A keyword-only argument."""
        self._known.append(name)
        if name in self._keywords:
            return self._convert(name, kind, self._keywords.pop(name))
        bare = self._bare_word(name)
        if bare is not None:
            return self._convert(name, kind, "")
        if default is _MISSING:
            raise ArgumentError(f"{self.where}: missing keyword argument {name}")
        return default

    def rest(self) -> list[str]:
        """All positional arguments not read yet."""
        out = self._positional[self._next:]
        self._next = len(self._positional)
        return out

    def finish(self) -> None:
        """Complain about anything the element did not read."""
        if self._order_error is not None:
            raise self._order_error
        if self._next < len(self._positional):
            extra = self._positional[self._next:]
            raise ArgumentError(f"{self.where}: too many arguments ({', '.join(map(repr, extra))}); "
                                f"it takes {', '.join(self._known) or 'none'}")
        for key in self._keywords:
            hint = did_you_mean(key, self._known)
            tip = f"; did you mean {hint}?" if hint else (
                f"; it takes {', '.join(self._known)}" if self._known else "; it takes none")
            raise ArgumentError(f"{self.where}: unknown keyword {key}{tip}")
