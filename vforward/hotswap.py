"""Hot-swapping a running router's configuration, as Click's hotconfig does.

The new configuration is parsed, built and checked apart from the running
graph; a configuration that does not build is refused with its located
error and the old graph goes on as if nothing happened.  Then, in one step
on the router's event loop (no batch is between elements at that moment):

  * an element whose name, class and configuration string are the same in
    both graphs is carried over: the new graph uses the running object
    itself, so its state (queue contents, counters, route tables, ARP and
    NAT tables) and its open devices stay as they are; only its connections
    are those of the new graph;
  * an element whose name and class match but whose configuration changed
    is built new; if its class defines `take_state(old)` (Click's
    take_state) it is called once the new element is initialized;
  * new elements are initialized; if one fails, the ones initialized are
    cleaned up, the old wiring is restored and the swap is refused;
  * old elements the new graph does not have, or has anew, are cleaned up
    (their devices close) once the new graph runs.  A device element whose
    configuration changes opens its device while the old one still holds
    it: give it a new name, or keep its configuration.

Packets held by a removed element (a Queue that is gone) are lost; nothing
else is.
"""
from __future__ import annotations

from vforward.element import ElementError
from vforward.graph import ElementGraph, GraphError, _wire, build_graph


class HotswapError(RuntimeError):
    """The new configuration was refused; the old graph keeps running."""


_WIRING = ("n_inputs", "n_outputs", "input_processing", "output_processing", "location",
           "_max_outputs")


def _same(old, new) -> bool:
    return (type(old) is type(new) and old.config == new.config
            and old.slot_size_needed >= new.slot_size_needed)


def hotswap(router, text: str, filename: str = "<hotconfig>") -> dict:
    """Replace router's graph with the one `text` configures; returns
    {"kept": [...], "new": [...], "removed": [...]} element names."""
    try:
        fresh = build_graph(text, filename)
    except (GraphError, ElementError) as e:
        raise HotswapError(f"{e}; the running configuration is unchanged") from None
    except Exception as e:              # a ConfigError (syntax) and the like
        raise HotswapError(f"{e}; the running configuration is unchanged") from None
    need = max((e.slot_size_needed for e in fresh.elements.values()), default=0)
    if need > router.pool.slot_size:
        raise HotswapError(f"the new configuration needs {need}-byte packet slots and this "
                           f"router's pool has {router.pool.slot_size}; restart it instead")
    old_elements = router.graph.elements
    merged, kept, built = {}, [], []
    for name, new in fresh.elements.items():
        old = old_elements.get(name)
        if old is not None and _same(old, new):
            merged[name] = old
            kept.append(name)
        else:
            merged[name] = new
            built.append(name)
    saved = {name: {a: getattr(old_elements[name], a, None) for a in _WIRING}
             for name in kept}
    saved_out = {name: (old_elements[name]._out_push, old_elements[name]._out_port,
                        old_elements[name]._in_pull, old_elements[name]._in_port,
                        old_elements[name]._out_target, old_elements[name]._rewire)
                 for name in kept}
    for name in kept:
        old, new = old_elements[name], fresh.elements[name]
        for a in _WIRING:
            if hasattr(new, a):
                setattr(old, a, getattr(new, a))
    _wire(merged, fresh.connections)
    graph = ElementGraph(merged, fresh.connections, fresh.flat, text)
    previous = router.graph
    router.graph = graph
    done = []
    try:
        for name in built:
            e = merged[name]
            e.router = router
            try:
                e.initialize()
            except OSError as exc:
                raise ElementError(f"{e.location}: {e.name} :: {e.class_name()}: {exc}") from exc
            done.append(e)
    except Exception as exc:
        for e in reversed(done):
            try:
                e.cleanup()
            except Exception:
                pass
        for name in kept:
            old = old_elements[name]
            for a, v in saved[name].items():
                setattr(old, a, v)
            (old._out_push, old._out_port, old._in_pull, old._in_port,
             old._out_target, old._rewire) = saved_out[name]
        router.graph = previous
        raise HotswapError(f"{exc}; the running configuration is unchanged") from None
    for name in built:
        old = old_elements.get(name)
        take = getattr(merged[name], "take_state", None)
        if old is not None and type(old) is type(merged[name]) and take is not None:
            take(old)
    removed = [name for name, e in old_elements.items() if merged.get(name) is not e]
    gone = {id(old_elements[name]) for name in removed}
    # Scheduled tasks of elements that are gone must not run again.
    for task in router._run_queue:
        if id(task.element) in gone:
            task.scheduled = False
    router._run_queue = [t for t in router._run_queue if id(t.element) not in gone]
    for name in removed:
        try:
            old_elements[name].cleanup()
        except Exception:
            pass
    router._kick()
    return {"kept": kept, "new": built, "removed": removed}
