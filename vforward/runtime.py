"""The asyncio driver of one router: tasks, timers, fd readiness, shutdown.

Elements never block.  Sources register their file descriptor (`add_reader`)
and read a burst on readiness; pull-side elements (Unqueue, generators) run
as `Task`s that the loop calls repeatedly while they have work, and that
sleep until woken (a Queue wakes its puller when it stops being empty).
There is no per-packet scheduling in Python: each callback moves a batch.

With `poll` the router busy-polls instead of sleeping, as VPP's polling
rx-mode and DPDK do: the packet devices' readers (those added with
poll=True) are called on every turn of the loop instead of on readiness,
so a packet waiting on a device is taken within microseconds rather than
after the kernel wakes the process up (tens to hundreds of µs on an idle
CPU), at the price of one CPU at 100%.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

from vforward.element import Element, ElementError
from vforward.graph import ElementGraph
from vforward.packet import DEFAULT_SLOTS, GSO_DEFAULT_SLOTS, SLOT_SIZE, PacketPool


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (faster fd and timer handling), else asyncio's own."""
    try:
        import uvloop
        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class Task:
    """A repeatedly-run callback (Click's Task).  `callback()` returns True when
    it did work and wants to run again soon; False puts it to sleep until
    `schedule()` is called again."""

    __slots__ = ("callback", "router", "scheduled", "element")

    def __init__(self, router: "Router", callback, element: Element | None = None):
        self.callback = callback
        self.router = router
        self.element = element
        self.scheduled = False

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.router._run_queue.append(self)
            self.router._kick()


def slot_size_needed(graph: ElementGraph) -> int:
    """The slot size the graph's elements ask for; 0 when the default will do."""
    return max((e.slot_size_needed for e in graph.elements.values()), default=0)


def pool_for(graph: ElementGraph, n_slots: int = DEFAULT_SLOTS, huge_pages: bool = True,
             gso_slots: int = GSO_DEFAULT_SLOTS) -> PacketPool:
    """A pool whose slots fit what the graph's elements need: n_slots slots of
    the default size, or, when an element needs bigger slots (GSO super-frames),
    at most gso_slots of those (the memory is only touched as used)."""
    need = slot_size_needed(graph)
    if need <= SLOT_SIZE:
        return PacketPool(n_slots)
    return PacketPool(min(n_slots, gso_slots), slot_size=need, huge_pages=huge_pages)


class Router:
    """Owns the pool, the element graph and the event loop of one router."""

    def __init__(self, graph: ElementGraph, pool: PacketPool | None = None,
                 n_slots: int = DEFAULT_SLOTS, loop: asyncio.AbstractEventLoop | None = None,
                 poll: bool = False, poll_budget: tuple[float, float] = (0.0, 0.0)):
        self.graph = graph
        self.poll = poll
        self._pollers: dict = {}    # fd -> reader callback, called every turn when polling
        self.pool = pool or pool_for(graph, n_slots)
        self.loop = loop or new_event_loop()
        # Adaptive polling: spin up to poll_budget's (window, CPU share) after device work.
        self.busy_poll = None
        if not poll and poll_budget[0] > 0.0:
            from vforward.busypoll import BusyPoll
            self.busy_poll = BusyPoll(self.loop, *poll_budget)
        self._sources: dict = {}    # fd -> reader of a packet device (hold_sources pauses them)
        self._held = False
        self.holds = 0              # times hold_sources paused the devices
        self.group = None           # the RouterGroup sharing this router's loop, if any
        self._run_queue: list[Task] = []
        self._kicked = False
        self._stopping = False
        self._drain_then_stop = False
        self._stop_future: asyncio.Future | None = None
        self._initialized = False
        self._cleaned = False
        self.exit_code = 0
        self.start_time = time.monotonic()
        self.listeners: list = []   # ControlSocket-like helpers started with the router
        self._precise = None        # PreciseTimers, made by the first call_precise
        self.driver = None          # a DriverManager that decides when stop requests stop

    # -- lookup -------------------------------------------------------------
    @property
    def elements(self) -> dict:
        return self.graph.elements

    def element(self, name: str) -> Element | None:
        return self.graph.elements.get(name)

    # -- services elements use ----------------------------------------------
    def new_task(self, callback, element: Element | None = None) -> Task:
        return Task(self, callback, element)

    def add_reader(self, fd: int, callback, poll: bool = False, holdable: bool = True) -> None:
        """Call callback when fd is readable.  With poll (a packet device whose
        callback returns at once when nothing waits), a polling router calls it
        on every turn instead, and one with a poll budget spins a while after
        it ran (vforward/busypoll.py).  A packet device is a source that
        hold_sources pauses, unless not holdable (a link's doorbell)."""
        if self.poll and poll:
            self._pollers[fd] = callback
            return
        if poll and self.busy_poll is not None:
            callback = self.busy_poll.wrap(callback)
        if poll and holdable:
            self._sources[fd] = callback
            if self._held:
                return              # registered when the hold ends
        self.loop.add_reader(fd, callback)

    def remove_reader(self, fd: int) -> None:
        if self._pollers.pop(fd, None) is None:
            held = self._sources.pop(fd, None) is not None and self._held
            if not held:
                self.loop.remove_reader(fd)

    def hold_sources(self, seconds: float) -> None:
        """Read no packet device for `seconds` (back-pressure): a link toward a
        slower process is full, so what would be read now would be dropped
        there after this process spent its work on it; left in the device,
        the surplus is dropped by the kernel for free, and the CPU goes to
        the slower side.  A hold in progress is not extended."""
        if self._held or not self._sources or self._stopping or self._cleaned:
            return
        self._held = True
        self.holds += 1
        for fd in self._sources:
            self.loop.remove_reader(fd)
        self.loop.call_later(seconds, self._release_sources)

    def _release_sources(self) -> None:
        self._held = False
        if self._cleaned:
            return
        for fd, callback in self._sources.items():
            self.loop.add_reader(fd, callback)

    def _poll_turn(self) -> None:
        """Call every reader (they return at once when nothing waits), then again."""
        if self._stopping:
            return
        try:
            for callback in list(self._pollers.values()):
                callback()
        finally:
            self.loop.call_soon(self._poll_turn)

    def add_writer(self, fd: int, callback) -> None:
        self.loop.add_writer(fd, callback)

    def remove_writer(self, fd: int) -> None:
        self.loop.remove_writer(fd)

    def call_later(self, delay: float, callback, *args):
        return self.loop.call_later(delay, callback, *args)

    def call_at_monotonic(self, when: float, callback, *args):
        """Run at loop time `when` (seconds on the loop's monotonic clock)."""
        return self.loop.call_at(when, callback, *args)

    def call_precise(self, when: float, callback, *args):
        """Run at `when` (seconds on time.monotonic) to the microsecond, not
        before: the loop's own timers tick in whole milliseconds.  Under
        --simtime, `when` is on the virtual clock (see precise_now)."""
        if hasattr(self.loop, "clock"):
            return self.loop.call_at(when, callback, *args)
        if self._precise is None:
            from vforward.precisetimer import PreciseTimers
            self._precise = PreciseTimers(self.loop)
        return self._precise.call_at(when, callback, *args)

    def now(self) -> float:
        return self.loop.time()

    def precise_now(self) -> float:
        """The time base of call_precise: time.monotonic, or the virtual clock
        under --simtime (a SimulatedTimeLoop)."""
        return self.loop.clock.now if hasattr(self.loop, "clock") else time.monotonic()

    def upstream(self, element: Element, port: int, predicate) -> list[Element]:
        """Elements up the pull path from `element`'s input `port` (through
        agnostic pull elements) that satisfy predicate: how Unqueue finds the
        Queue whose emptiness it waits on (Click's notifier search)."""
        found, seen = [], set()
        stack = [(element, port)]
        by_target = {}
        for c in self.graph.connections:
            by_target.setdefault((c.to_name, c.to_port), []).append(c.from_name)
        while stack:
            e, p = stack.pop()
            for up_name in by_target.get((e.name, p), []):
                if up_name in seen:
                    continue
                seen.add(up_name)
                up = self.graph.elements[up_name]
                if predicate(up):
                    found.append(up)
                else:
                    stack.extend((up, q) for q in range(up.n_inputs))
        return found

    def downstream(self, element: Element, port: int, predicate) -> tuple[list[Element], bool]:
        """Elements down the push path from `element`'s output `port` that
        satisfy predicate, and whether some path ends without meeting one
        (Click's downstream notifier search; see vforward.notifier)."""
        by_source = {}
        for c in self.graph.connections:
            by_source.setdefault((c.from_name, c.from_port), []).append(c.to_name)
        found, seen, open_end = [], set(), False
        stack = [(element, port)]
        while stack:
            e, p = stack.pop()
            targets = by_source.get((e.name, p), [])
            if not targets and e is not element:
                open_end = True
            for name in targets:
                if name in seen:
                    continue
                seen.add(name)
                down = self.graph.elements[name]
                if predicate(down):
                    found.append(down)
                    continue
                outs = [q for q in range(down.n_outputs) if down.output_processing[q] == "h"]
                if not outs:
                    open_end = True
                stack.extend((down, q) for q in outs)
        return found, open_end

    def stop(self, exit_code: int = 0, drain: bool = False, driver_done: bool = False) -> None:
        """Ask the router to finish (Click's DriverManager stop / STOP true).
        With drain, finish once every task has run out of work, so packets
        already queued inside the graph still reach their sinks.  With a
        driver script, a request is one step of that script instead, until
        the script itself ends (driver_done)."""
        if self.driver is not None and not driver_done and self.driver.stop_requested():
            return
        self.exit_code = exit_code or self.exit_code
        if drain:
            self._drain_then_stop = True
            self._kick()
            return
        self._stopping = True
        if self._stop_future is not None and not self._stop_future.done():
            self._stop_future.set_result(None)

    # -- the task runner ----------------------------------------------------
    def _kick(self) -> None:
        if not self._kicked:
            self._kicked = True
            self.loop.call_soon(self._run_tasks)

    def _run_tasks(self) -> None:
        """Run each scheduled task once; re-queue those that still have work.
        One pass per loop iteration keeps fd readiness and timers responsive."""
        self._kicked = False
        tasks, self._run_queue = self._run_queue, []
        for i, task in enumerate(tasks):
            task.scheduled = False
            if self._stopping:
                for rest in tasks[i:]:
                    rest.scheduled = False
                break
            try:
                more = task.callback()
            except Exception:
                self._element_failed(task.element)
                for rest in tasks[i + 1:]:
                    rest.scheduled = False
                return
            if more:
                task.schedule()
        if self._drain_then_stop and not self._run_queue:
            self.stop()

    def _element_failed(self, element: Element | None, context: str = "") -> None:
        """An element raised: a bug in it.  Report which, and stop with status 2
        rather than run on with a graph that silently lost a task."""
        import traceback
        element = _innermost_element(sys.exc_info()[2]) or element
        where = f"'{element.name}' ({element.class_name()})" if element else "an element"
        print(f"vforward: error: {where} failed{context}; stopping the router", file=sys.stderr)
        traceback.print_exc()
        self.stop(exit_code=2, driver_done=True)   # a failure is final, driver or not

    def _loop_exception(self, loop, context: dict) -> None:
        """Exceptions in fd and timer callbacks (sources, timed elements)."""
        exc = context.get("exception")
        element = _innermost_element(exc.__traceback__) if exc is not None else None
        where = f" in '{element.name}' ({element.class_name()})" if element else ""
        print(f"vforward: error: {context.get('message', 'callback failed')}{where}: {exc!r}; "
              "stopping the router", file=sys.stderr)
        if exc is not None:
            import traceback
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        # In a RouterGroup the loop is shared: stop the router the element belongs to.
        owner = element.router if element is not None and element.router is not None else self
        owner.stop(exit_code=2, driver_done=True)

    def run_until_idle(self, max_rounds: int = 1_000_000) -> None:
        """Drive tasks synchronously until none has work (tests and benchmarks)."""
        self.initialize()
        rounds = 0
        while self._run_queue and not self._stopping and rounds < max_rounds:
            self._run_tasks()
            rounds += 1

    # -- life cycle -----------------------------------------------------------
    def initialize(self) -> None:
        if self._initialized:
            return
        self._initialized = True
        for e in self.graph.elements.values():
            e.router = self
        asyncio.set_event_loop(self.loop)
        done = []
        try:
            for e in self.graph.elements.values():
                try:
                    e.initialize()
                except OSError as exc:
                    raise ElementError(f"{e.location}: {e.name} :: {e.class_name()}: {exc}") from exc
                done.append(e)
        except Exception:
            for e in reversed(done):
                _quiet_cleanup(e)
            self._cleaned = True
            raise

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        for listener in self.listeners:
            listener.close()
        for e in reversed(list(self.graph.elements.values())):
            _quiet_cleanup(e)
        if self._precise is not None:
            self._precise.close()

    async def _serve(self) -> None:
        """Start listeners and tasks, then wait until this router is stopped."""
        self._stop_future = self.loop.create_future()
        if self._stopping:
            self._stop_future.set_result(None)
        for listener in self.listeners:
            await listener.start()
        self._kick()
        if self.poll:
            self.loop.call_soon(self._poll_turn)
        await self._stop_future

    async def _main(self, duration: float | None) -> None:
        self.loop.set_exception_handler(self._loop_exception)
        _on_signals(self.loop, lambda: self.stop(driver_done=True))   # a signal is final
        if duration is not None:
            self.loop.call_later(duration, self.stop)
        await self._serve()

    def run(self, duration: float | None = None) -> int:
        """Initialize, run until stopped (signal, STOP element or duration), clean up."""
        self.initialize()
        try:
            self.loop.run_until_complete(self._main(duration))
        finally:
            self.cleanup()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self.loop.remove_signal_handler(sig)
                except Exception:
                    pass
        return self.exit_code

    def close(self) -> None:
        self.cleanup()
        if not self.loop.is_closed():
            self.loop.close()

    # -- reporting --------------------------------------------------------------
    def counter_summary(self) -> list[tuple[str, str, str]]:
        """(element, handler, value) for every counting handler, for summaries and --stats."""
        rows = []
        for e in self.graph.elements.values():
            for hname in ("count", "byte_count", "drops", "length", "dropped"):
                h = e.handlers().get(hname)
                if h is not None and h.read is not None and not h.read_takes_arg:
                    rows.append((e.name, hname, e.read(hname)))
        return rows

    def print_summary(self, file=None) -> None:
        file = file or sys.stderr
        rows = self.counter_summary()
        if not rows:
            return
        width = max(len(f"{n}.{h}") for n, h, _ in rows)
        for n, h, v in rows:
            print(f"  {f'{n}.{h}':<{width}}  {v}", file=file)


class RouterGroup:
    """Several routers (the virtual nodes of a lab) on one event loop in one
    process: a node costs a graph and a small pool, not a Python process."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 poll_budget: tuple[float, float] = (0.0, 0.0)):
        self.loop = loop or new_event_loop()
        self.routers: dict[str, Router] = {}
        # One spin for the loop all the routers share (vforward/busypoll.py), not one each.
        self.busy_poll = None
        if poll_budget[0] > 0.0:
            from vforward.busypoll import BusyPoll
            self.busy_poll = BusyPoll(self.loop, *poll_budget)

    def add(self, name: str, graph: ElementGraph, pool: PacketPool) -> Router:
        router = Router(graph, pool, loop=self.loop)
        router.busy_poll = self.busy_poll
        router.group = self
        self.routers[name] = router
        return router

    def initialize(self) -> None:
        done = []
        try:
            for router in self.routers.values():
                router.initialize()
                done.append(router)
        except Exception:
            for router in done:
                router.cleanup()
            raise

    def stop(self) -> None:
        for router in self.routers.values():
            router.stop()

    def hold_sources(self, seconds: float) -> None:
        """Every router's packet devices paused (Router.hold_sources): they
        share the loop, so any of them may be feeding the full link."""
        for router in self.routers.values():
            router.hold_sources(seconds)

    def run(self, duration: float | None = None, on_started=None) -> int:
        """Run every router until a signal (or duration); the worst exit code."""
        self.initialize()

        async def main():
            self.loop.set_exception_handler(next(iter(self.routers.values()))._loop_exception)
            _on_signals(self.loop, self.stop)
            if duration is not None:
                self.loop.call_later(duration, self.stop)
            async def serve(router):
                await router._serve()
                if router.exit_code:    # an element failed: the process goes, to be restarted whole
                    self.stop()
            serving = [asyncio.ensure_future(serve(r)) for r in self.routers.values()]
            if on_started is not None:
                self.loop.call_soon(on_started)
            await asyncio.gather(*serving)
        try:
            self.loop.run_until_complete(main())
        finally:
            for router in self.routers.values():
                router.cleanup()
        return max((r.exit_code for r in self.routers.values()), default=0)


def _on_signals(loop, callback) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError, ValueError):
            pass   # not the main thread: the embedding program stops us


def _innermost_element(tb) -> Element | None:
    """The element whose method raised: the deepest frame whose `self` is one."""
    found = None
    while tb is not None:
        me = tb.tb_frame.f_locals.get("self")
        if isinstance(me, Element):
            found = me
        tb = tb.tb_next
    return found


def _quiet_cleanup(e: Element) -> None:
    try:
        e.cleanup()
    except Exception as exc:   # one element's failure must not leak devices of others
        print(f"warning: cleanup of '{e.name}' failed: {exc}", file=sys.stderr)
