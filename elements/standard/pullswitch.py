"""PullSwitch: pull from one chosen input."""
from __future__ import annotations

from vforward.args import ArgumentError, integer
from vforward.element import PULL_ONLY, Element, HandlerError, read_handler, write_handler


class PullSwitch(Element):
    """PullSwitch([INPUT]) -- pull from one input, chosen at run time

    Ports: any number of inputs, 1 output; pull.

    A pull on the output is passed to input INPUT; with INPUT -1 (or an
    input that does not exist) every pull returns nothing.  Write the
    `switch` handler to change the input; the pullers waiting downstream
    are woken then, since the new input may have packets.

    Arguments:
      INPUT (integer, default 0)   the input; -1 for none

    Handlers:
      switch (read/write)   the input
      config (read)         the current configuration
    """
    PORTS = "-/1"
    PROCESSING = PULL_ONLY

    def configure(self, args):
        self.input = args.positional("INPUT", integer, default=0)
        args.finish()
        self._listeners = []

    def initialize(self):
        if self.input >= self.n_inputs:
            self.input = -1

    def add_listener(self, task):
        """A puller's task; woken when the switch changes, and by the queues
        upstream (every input's), whichever is chosen."""
        self._listeners.append(task)
        for port in range(self.n_inputs):
            for q in self.router.upstream(self, port, lambda e: hasattr(e, "add_listener")):
                q.add_listener(task)

    def pull(self, port, max_n):
        if self.input < 0:
            return None
        return self.pull_input(self.input, max_n)

    @read_handler("switch")
    def read_switch(self):
        return self.input

    @write_handler("switch")
    def write_switch(self, value):
        try:
            v = integer(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self.input = v if 0 <= v < self.n_inputs else -1
        for task in self._listeners:
            task.schedule()

    @read_handler("config")
    def read_config(self):
        return str(self.input)
