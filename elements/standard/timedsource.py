"""TimedSource: sends one packet every INTERVAL on a loop timer."""
import time

import numpy as np

from vforward.args import ArgumentError, boolean, integer, seconds, string
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler
from vforward.elements.standard.infinitesource import DEFAULT_DATA


class TimedSource(Element):
    """TimedSource([INTERVAL, DATA, KEYWORDS]) -- periodically generate a packet

    Ports: no inputs, 1 push output.

    Pushes a copy of DATA out of its output about once every INTERVAL, the
    first one INTERVAL after the router starts, until LIMIT packets have
    been sent (-1: forever).  Packets carry their creation time in the
    timestamp annotation.

    Arguments:
      INTERVAL (time, default 500ms)            time between packets
      DATA (string, default 64 bytes of text)   packet contents

    Keyword arguments:
      LIMIT (integer, default -1)      packets to send in all; -1 for no limit
      ACTIVE (boolean, default true)   whether to send
      STOP (boolean, default false)    stop the router when LIMIT is reached

    Handlers:
      count (read)            packets sent
      interval (read/write)   INTERVAL
      data (read/write)       the packet contents
      active (read/write)     whether it sends
      reset (write)           set the count to zero and start again
    """
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.interval = args.positional("INTERVAL", seconds, default=0.5)
        data = args.positional("DATA", string, default=None)
        self.limit = args.keyword("LIMIT", integer, default=-1)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        self.stop = args.keyword("STOP", boolean, default=False)
        args.finish()
        if self.interval <= 0:
            raise ArgumentError(f"{args.where}: argument INTERVAL: must be more than zero")
        payload = DEFAULT_DATA if data is None else data.encode("latin-1")
        self._data = np.frombuffer(payload, dtype=np.uint8).copy()
        self.count = 0
        self._timer = None

    def initialize(self):
        self._arm()

    def _arm(self):
        if self._timer is None and self.active:
            self._timer = self.router.call_later(self.interval, self._on_timer)

    def _on_timer(self):
        self._timer = None
        if not self.active:
            return
        if self.limit >= 0 and self.count >= self.limit:
            if self.stop:
                self.router.stop()
            return
        pool = self.router.pool
        if pool.n_free:
            batch = pool.alloc(1, len(self._data))
            h = pool.headroom
            pool.data[batch.idx, h:h + len(self._data)] = self._data
            pool.ts_ns[batch.idx] = time.time_ns()
            self.count += 1
            self.emit(0, batch)
        if self.limit >= 0 and self.count >= self.limit and self.stop:
            self.router.stop()
            return
        self._arm()

    def _restart(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.router is not None:
            self._arm()

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("interval")
    def read_interval(self):
        return self.interval

    @write_handler("interval")
    def write_interval(self, value):
        try:
            interval = seconds(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        if interval <= 0:
            raise HandlerError("interval must be more than zero")
        self.interval = interval
        self._restart()

    @read_handler("data")
    def read_data(self):
        return self._data.tobytes().decode("latin-1")

    @write_handler("data")
    def write_data(self, value):
        self._data = np.frombuffer(string(value).encode("latin-1"), dtype=np.uint8).copy()

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._restart()

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
        self._restart()
