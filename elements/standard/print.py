"""Print: writes a line per packet (length and first bytes) to standard error."""
import sys

from vforward.args import ArgumentError, boolean, integer, string
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler

_CONTENTS = ("NONE", "HEX", "ASCII")


def _contents(text: str) -> str:
    t = string(text).upper()
    t = {"TRUE": "HEX", "FALSE": "NONE"}.get(t, t)     # Click's older boolean form
    if t not in _CONTENTS:
        raise ArgumentError(f"expected NONE, HEX or ASCII, got {text!r}")
    return t


def format_packet(data: bytes, length: int, contents: str) -> str:
    """Click's dump of a packet's first bytes: `  64 | 45000054 00004000 ...`
    (the bar and bytes only when there are bytes to show)."""
    line = f"{length:4d}"
    if contents == "HEX" and data:
        h = data.hex()
        line += " | " + " ".join(h[i:i + 8] for i in range(0, len(h), 8))
    elif contents == "ASCII" and data:
        line += " | " + "".join((" " if i % 8 == 0 else "") + (chr(c) if 32 <= c <= 126 else ".")
                                for i, c in enumerate(data))
    return line


class Print(Element):
    """Print([LABEL, MAXLENGTH, KEYWORDS]) -- print packet contents

    Ports: 1 input, 1 output; agnostic.

    Writes one line per packet to standard error and passes the packet on
    unchanged.  The line holds LABEL, the packet's length and up to
    MAXLENGTH of its first bytes, in Click's format:

      label:   98 | 45000054 a1b24000 40016e0a 0a000001 0a000002 0800f7ff

    Hex bytes are grouped by four.  Printing is slow (one Python line per
    packet); it is for debugging, not for traffic at speed.

    Arguments:
      LABEL (string, default none)   text at the start of each line
      MAXLENGTH (integer, default 24)   most bytes to print; -1 for the whole packet

    Keyword arguments:
      CONTENTS (NONE, HEX or ASCII; default HEX)   how to print the bytes;
                                 ASCII prints non-printable bytes as '.'
      TIMESTAMP (boolean, default false)   print the timestamp annotation,
                                 seconds since 1970, before the length
      HEADROOM (boolean, default false)    print "(h<headroom> t<tailroom>)"
      ACTIVE (boolean, default true)       if false, print nothing

    Handlers:
      active (read/write)   whether it prints
      count (read)          packets printed
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.label = args.positional("LABEL", string, default="")
        self.maxlength = args.positional("MAXLENGTH", integer, default=24)
        self.contents = args.keyword("CONTENTS", _contents, default="HEX")
        self.timestamp = args.keyword("TIMESTAMP", boolean, default=False)
        self.headroom = args.keyword("HEADROOM", boolean, default=False)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        args.finish()
        self.count = 0

    def process(self, batch):
        if not self.active or not len(batch.idx):
            return batch
        pool = batch.pool
        prefix = f"{self.label}: " if self.label else ""
        lines = []
        for slot in batch.idx.tolist():
            off, length = int(pool.off[slot]), int(pool.length[slot])
            n = length if self.maxlength < 0 else min(length, self.maxlength)
            line = prefix
            if self.timestamp:
                sec, ns = divmod(int(pool.ts_ns[slot]), 1_000_000_000)
                line += f"{sec}.{ns // 1000:06d}: "
            if self.headroom:
                line += f"(h{off} t{pool.slot_size - off - length}) "
            data = pool.data[slot, off:off + n].tobytes() if self.contents != "NONE" else b""
            lines.append(line + format_packet(data, length, self.contents))
        self.count += len(lines)
        sys.stderr.write("\n".join(lines) + "\n")
        return batch

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None

    @read_handler("count")
    def read_count(self):
        return self.count
