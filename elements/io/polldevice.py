"""PollDevice: FromDevice, busy-polled."""
from __future__ import annotations

from vforward.args import Args, anything, boolean, unsigned, word

from vforward.elements.io.fromdevice import FromDevice


class PollDevice(FromDevice):
    """PollDevice(DEVNAME [, BURST, KEYWORDS]) -- poll packets from a network device

    Ports: no inputs; 1 push output.

    Click's polling FromDevice: reads the frames arriving on DEVNAME, but
    looks for them on every turn of the router's loop instead of sleeping
    until the kernel says the device is readable.  A router with a
    PollDevice runs as `vforward run --poll` does (VPP's polling rx-mode):
    lowest latency, one CPU kept at 100%.  Everything else is FromDevice's
    (the AF_PACKET ring, timestamps, packet types); the host kernel still
    sees the frames, as with FromDevice.

    Arguments:
      DEVNAME (string)               the device
      BURST (integer, default 256)   most frames per pushed batch (a boolean in this
                                     place is read as PROMISC, as older configs write it)
      PROMISC (boolean, default false)   promiscuous mode
      HEADROOM, LENGTH, ALLOW_NONEXISTENT   accepted for Click compatibility

    Handlers: as FromDevice.
    """

    def configure(self, args):
        devname = args.positional("DEVNAME", word)
        second = args.positional("BURST", anything, default=None)
        promisc = args.keyword("PROMISC", boolean, default=False)
        burst = args.keyword("BURST", unsigned, default=256)
        if second is not None:      # Click's configs give PROMISC there, its manual BURST
            if second.strip().isdigit():
                burst = unsigned(second)
            else:
                promisc = boolean(second)
        args.keyword("HEADROOM", anything, default=None)
        args.keyword("LENGTH", anything, default=None)
        args.keyword("ALLOW_NONEXISTENT", anything, default=None)
        args.finish()
        super().configure(Args(f"{devname}, PROMISC {str(promisc).lower()}, BURST {burst}",
                               where=args.where))

    def initialize(self):
        self.router.poll = True   # before the reader is added: it then goes to the poll list
        super().initialize()
