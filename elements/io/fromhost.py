"""FromHost and ToHost: Click's user-level names for a TAP device shared with the host."""
from __future__ import annotations

from vforward.args import Args, ArgumentError, anything, unsigned, word
from vforward.element import Element, ElementError, PUSH_ONLY, read_handler

from vforward.elements.io.kerneltun import KernelTap


class FromHost(KernelTap):
    """FromHost(DEVNAME [, DST, KEYWORDS]) -- packets from the host, over a TAP device

    Ports: no inputs, 1 push output.

    Click's user-level FromHost: creates the TAP device DEVNAME (over
    /dev/net/tun), gives the host's side of it the address DST (an
    address/prefix; none if omitted) and brings it up.  Frames the host
    sends through DEVNAME -- ARP included -- come out of the output as
    Ethernet frames.  A ToHost with the same DEVNAME hands frames to the
    host through the same device.  This is KernelTap under Click's name
    and argument order; see KernelTap for the device's behaviour.

    Arguments:
      DEVNAME (string)              the device name (at most 15 characters)
      DST (IP address/prefix)       the host's address on the device
      GATEWAY (IP address)          add a default route via this address
      ETHER (Ethernet address)      the device's MAC (default: random)
      MTU (integer, default 1500)   the device MTU
      NETNS (string)                create the device in this network namespace
      HEADROOM (integer)            accepted for Click compatibility

    Handlers: as KernelTap (count, drops, dev_name, address ...).
    """
    PORTS = "0/1"
    PROCESSING = "a/h"

    def configure(self, args):
        devname = args.positional("DEVNAME", word)
        dst = args.positional("DST", anything, default="0.0.0.0/0")
        extra = []
        for key in ("GATEWAY", "ETHER", "MTU", "NETNS", "BURST"):
            value = args.keyword(key, anything, default=None)
            if value is not None:
                extra.append(f"{key} {value}")
        args.keyword("HEADROOM", unsigned, default=0)
        args.finish()
        super().configure(Args(", ".join([dst, f"DEVNAME {devname}", *extra]), where=args.where))


class ToHost(Element):
    """ToHost([DEVNAME]) -- packets to the host, over FromHost's TAP device

    Ports: 1 input, no outputs; push.

    Click's user-level ToHost: writes each Ethernet frame it receives into
    the TAP device of the FromHost with the same DEVNAME, so the host's
    kernel receives it as if it arrived on that device.  Without DEVNAME,
    the configuration's only FromHost is meant.  A ToHost needs its
    FromHost (the configuration check says so when it is missing).

    Arguments:
      DEVNAME (string)   the FromHost's device

    Handlers:
      drops (read)   frames not written (no device, or refused)
    """
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.devname = args.positional("DEVNAME", word, default=None)
        args.keyword("ALLOW_NONEXISTENT", anything, default=None)
        args.keyword("SNIFFERS", anything, default=None)
        args.keyword("QUIET", anything, default=None)
        args.finish()
        self.host = None
        self.drops = 0

    def initialize(self):
        hosts = [e for e in self.router.elements.values() if isinstance(e, FromHost)
                 and (self.devname is None or e.dev_name == self.devname)]
        if len(hosts) != 1:
            what = f"with DEVNAME {self.devname}" if self.devname else "in the configuration"
            raise ElementError(f"{self.location}: {self.name} :: ToHost: needs exactly one "
                               f"FromHost {what}, found {len(hosts)}; add "
                               f"FromHost({self.devname or 'DEVNAME'}, ADDR/MASK)")
        self.host = hosts[0]

    def push(self, port, batch):
        if self.host is None:
            self.drops += len(batch.idx)
            batch.kill()
            return
        self.host.push(0, batch)

    @read_handler("drops")
    def read_drops(self):
        return self.drops + (self.host._writer.drops if self.host is not None
                             and self.host._writer is not None else 0)


class ToHostSniffers(ToHost):
    """ToHostSniffers([DEVNAME]) -- packets to the host's sniffers (here: to the host)

    Ports: 1 input, no outputs; push.

    In Click, ToHostSniffers hands packets to the kernel's packet sniffers
    only (tcpdump sees them; the IP stack does not).  A user-level vforward
    cannot reach the sniffers alone: this is ToHost, which hands the frames
    to the host through FromHost's device, where tcpdump on that device
    sees them too.
    """
