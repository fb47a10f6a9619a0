"""Run graphs on the plain-Python reference kernels instead of the compiled ones.

Every compiled kernel module `vforward.cext.X` has a twin `X_reference`.
Elements bind a kernel module (or names from it) at import; `reference_kernels()`
rebinds every such name in vforward's loaded modules to the twin for the
duration of a `with` block, so the same graph can be run both ways on the
same frames and the results compared.  Build the graph and its pool inside
the block: a pool's slot allocator is made when the pool is.
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types

_PREFIX = "vforward.cext."


def _reference_of(value):
    """The reference twin of a compiled kernel module or of a name from one; None if not one."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
        attr = None
    else:
        name = getattr(value, "__module__", None)
        attr = getattr(value, "__name__", None)
    if not isinstance(name, str) or not name.startswith(_PREFIX) or name.endswith("_reference"):
        return None
    try:
        twin = importlib.import_module(name + "_reference")
    except ImportError:
        return None
    if attr is None:
        return twin
    return getattr(twin, attr, None)


@contextlib.contextmanager
def reference_kernels():
    """Inside the block, vforward's modules use the reference kernels."""
    swapped = []
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not mod_name.startswith("vforward") or mod_name.startswith(_PREFIX):
            continue
        for attr, value in list(vars(mod).items()):
            twin = _reference_of(value)
            if twin is not None and twin is not value:
                swapped.append((mod, attr, value))
                setattr(mod, attr, twin)
    try:
        yield len(swapped)
    finally:
        for mod, attr, value in swapped:
            setattr(mod, attr, value)
