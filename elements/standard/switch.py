"""Switch, StaticSwitch, PaintSwitch: send every packet to one chosen output."""
import numpy as np

from vforward.args import ArgumentError, integer
from vforward.element import Element, HandlerError, PUSH_ONLY, read_handler, write_handler

from .paint import one_byte_annotation


class Switch(Element):
    """Switch([OUTPUT]) -- send all packets to one output, chosen at run time

    Ports: 1 input, 1 or more outputs; push.

    Sends every packet to output OUTPUT; -1 drops them all.  Write the
    `switch` handler to change the output while packets flow.

    Arguments:
      OUTPUT (integer, default 0)   the output; -1 drops

    Handlers:
      switch (read/write)   the output
      config (read)         the current configuration
    """
    PORTS = "1/1-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.output = args.positional("OUTPUT", integer, default=0)
        args.finish()

    def initialize(self):
        if self.output >= self.n_outputs:
            self.output = -1

    def push(self, port, batch):
        if self.output < 0:
            batch.kill()
        else:
            self.emit(self.output, batch)

    @read_handler("switch")
    def read_switch(self):
        return self.output

    @write_handler("switch")
    def write_switch(self, value):
        try:
            v = integer(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self.output = v if 0 <= v < self.n_outputs else -1

    @read_handler("config")
    def read_config(self):
        return str(self.output)


class StaticSwitch(Switch):
    """StaticSwitch(OUTPUT) -- send all packets to one output, fixed

    Ports: 1 input, 1 or more outputs; push.

    Sends every packet to output OUTPUT; -1 drops them.  Unlike Switch, the
    output cannot change at run time (Click's optimizers remove the element).

    Arguments:
      OUTPUT (integer)   the output; -1 drops
    """
    PORTS = "1/1-"

    def configure(self, args):
        self.output = args.mandatory("OUTPUT", integer)
        args.finish()



StaticSwitch._handler_table["switch"].write = None   # the choice is static: read only


class PaintSwitch(Element):
    """PaintSwitch([ANNO]) -- send packets to the output their paint names

    Ports: 1 input, any number of outputs; push.

    Sends each packet to the output numbered by its paint annotation (or the
    one-byte annotation ANNO); packets painted past the last output are
    dropped.

    Arguments:
      ANNO (annotation, default PAINT)   the one-byte annotation to read
    """
    PORTS = "1/-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.anno = args.positional("ANNO", one_byte_annotation, default="paint")
        args.finish()

    def push(self, port, batch):
        colours = getattr(batch.pool, self.anno)[batch.idx].astype(np.int64)
        n = self.n_outputs
        beyond = colours >= n
        if beyond.any():
            gone, batch = batch.split(beyond)
            gone.kill()
            colours = colours[~beyond]
        if n == 1:
            self.emit(0, batch)
            return
        for p, part in enumerate(batch.partition(colours, n)):
            self.emit(p, part)
