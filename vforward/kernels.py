"""The compiled kernels (cext/*.pyx), loaded in one place.

Every kernel has a plain-Python reference beside it (cext/NAME_reference.py)
that gives the same bytes, 10-100x slower.  A kernel that is not compiled is
an error that says how to build it, never a quiet fall back to the slow
reference: a data plane in pure Python would look like a slow machine.

The reference runs only when asked for, to debug a kernel or to compare with
it: VFORWARD_REFERENCE=1 (or `all`) for every kernel, or a comma-separated
list of names, e.g. VFORWARD_REFERENCE=fib,udpio.  It is read when a kernel
is first loaded, i.e. before the element modules are imported.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType

ENV = "VFORWARD_REFERENCE"
KERNELS = ("afpacket", "ether", "fib", "fib6", "gso", "ip6forward", "ip6header", "ipfilter",
           "ipforward", "ipheader", "ipinput", "poolops", "rewriter", "shmring", "tapio", "taprx",
           "udpio")


class KernelNotBuilt(ImportError):
    """A compiled kernel cannot be imported; the message names it and the fix."""


def reference_requested(name: str) -> bool:
    """Whether VFORWARD_REFERENCE asks for kernel `name`'s plain-Python reference."""
    words = {w.strip().lower() for w in os.environ.get(ENV, "").split(",") if w.strip()}
    return bool(words & {"1", "all", "yes", "true", name})


def rebuild_command() -> str:
    """How to compile the kernels for the vforward being run."""
    cext = os.path.dirname(importlib.util.find_spec("vforward.cext").origin)
    if os.path.exists(os.path.join(cext, "fib.pyx")):       # a source tree (editable install)
        tree = os.path.dirname(cext)
        return (f"cd {tree} && python setup.py build_ext --inplace "
                "(needs gcc and python3-dev; `make build` does the same)")
    return ("reinstall vforward from its sdist or source tree, which compiles them: "
            "pip install --force-reinstall --no-deps vforward-VERSION.tar.gz "
            "(needs gcc and python3-dev: apt-get install gcc python3-dev)")


def load(name: str) -> ModuleType:
    """vforward.cext.NAME compiled, or its reference when VFORWARD_REFERENCE asks for it."""
    if name not in KERNELS:
        raise ValueError(f"no kernel {name!r}; kernels are {', '.join(KERNELS)}")
    if reference_requested(name):
        return importlib.import_module(f"vforward.cext.{name}_reference")
    try:
        return importlib.import_module(f"vforward.cext.{name}")
    except ImportError as e:
        raise KernelNotBuilt(
            f"the compiled kernel vforward.cext.{name} cannot be imported ({e}). "
            f"Build it: {rebuild_command()}; or run the plain-Python reference, "
            f"10-100x slower, with {ENV}={name} (or {ENV}=1 for every kernel)") from None


@dataclass
class KernelStatus:
    name: str
    compiled: str | None        # the extension module's file, when it imports
    error: str | None           # why it does not
    reference_requested: bool


def status() -> list[KernelStatus]:
    """For each kernel: where its compiled module is, or why it does not import."""
    out = []
    for name in KERNELS:
        try:
            mod = importlib.import_module(f"vforward.cext.{name}")
            out.append(KernelStatus(name, mod.__file__, None, reference_requested(name)))
        except ImportError as e:
            out.append(KernelStatus(name, None, str(e), reference_requested(name)))
    return out
