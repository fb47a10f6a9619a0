"""Bypass: an optional detour a handler switches on and off."""
from vforward.args import ArgumentError, boolean
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler


class Bypass(Element):
    """Bypass([ACTIVE]) -- send packets through an optional detour

    Ports: 1 or 2 inputs, 1 or 2 outputs; agnostic.

    Normally passes packets from input 0 to output 0, like Null.  When
    ACTIVE is true, a push Bypass sends them to output 1 instead (the
    detour), and a pull Bypass pulls from input 1.  The second input (push)
    or output (pull) joins the detour back to the normal path: on a push
    Bypass, packets arriving on input 1 leave on output 0; on a pull
    Bypass, pulls on output 1 are passed to input 0.

      src -> b :: Bypass -> sink;
      b[1] -> Print(Debug) -> [1]b;      // write b.active true to print

    Arguments:
      ACTIVE (boolean, default false)   whether packets take the detour

    Handlers:
      active (read/write)   ACTIVE
    """
    PORTS = "1-2/1-2"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.active = args.positional("ACTIVE", boolean, default=False)
        args.keyword("INLINE", boolean, default=False)
        args.finish()

    def push(self, port, batch):
        if port == 0 and self.active and self.n_outputs > 1:
            self.emit(1, batch)
        else:
            self.emit(0, batch)

    def pull(self, port, max_n):
        if port == 0 and self.active and self.n_inputs > 1:
            return self.pull_input(1, max_n)
        return self.pull_input(0, max_n)

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
