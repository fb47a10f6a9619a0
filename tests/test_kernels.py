"""vforward/kernels.py: one place loads the compiled kernels; a missing one is an
error naming it and the fix, and the reference runs only when asked for."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vforward import kernels

# Runs the CLI with one compiled kernel made unimportable, as when it was never built.
WITHOUT_FIB = """
import importlib.abc, sys
class NotBuilt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "vforward.cext.fib":
            raise ModuleNotFoundError("No module named 'vforward.cext.fib'")
sys.meta_path.insert(0, NotBuilt())
from vforward.cli import main
sys.exit(main(sys.argv[1:]))
"""
ROUTES = "src :: InfiniteSource(LIMIT 1) -> Strip(14) -> rt :: LookupIPRoute(0/0 0) -> Discard;"


def _run(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_every_kernel_loads_compiled_by_default(monkeypatch):
    monkeypatch.delenv(kernels.ENV, raising=False)
    for name in kernels.KERNELS:
        mod = kernels.load(name)
        assert mod.__name__ == f"vforward.cext.{name}"
        assert mod.__file__.endswith(".so"), f"{name} is not the compiled module"


@pytest.mark.parametrize("value", ["fib", "udpio,fib", " FIB "])
def test_the_environment_selects_one_kernels_reference(monkeypatch, value):
    monkeypatch.setenv(kernels.ENV, value)
    assert kernels.load("fib").__name__ == "vforward.cext.fib_reference"
    assert kernels.load("ether").__name__ == "vforward.cext.ether"


@pytest.mark.parametrize("value", ["1", "all"])
def test_the_environment_selects_every_reference(monkeypatch, value):
    monkeypatch.setenv(kernels.ENV, value)
    for name in kernels.KERNELS:
        assert kernels.load(name).__name__ == f"vforward.cext.{name}_reference"


def test_an_unknown_kernel_name_is_refused():
    with pytest.raises(ValueError, match="no kernel 'fibb'"):
        kernels.load("fibb")


def test_a_missing_kernel_is_an_error_that_names_it_and_the_fix():
    p = _run(WITHOUT_FIB, "check", "-e", ROUTES)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    err = p.stderr
    assert "vforward: error: the compiled kernel vforward.cext.fib cannot be imported" in err
    assert "build_ext --inplace" in err
    assert "VFORWARD_REFERENCE=fib" in err


def test_a_missing_kernel_with_its_reference_asked_for_still_runs():
    p = _run(WITHOUT_FIB, "check", "-e", ROUTES, env={kernels.ENV: "fib"})
    assert p.returncode == 0, p.stderr
    assert "LookupIPRoute" in p.stdout


def test_elements_run_on_the_reference_the_environment_asks_for():
    code = "from vforward.elements.ip.iproutetable import Fib; print(Fib.__module__)"
    assert _run(code).stdout.strip() == "vforward.cext.fib"
    assert _run(code, env={kernels.ENV: "fib"}).stdout.strip() == "vforward.cext.fib_reference"


def test_every_pyx_kernel_is_listed_and_has_a_reference():
    """A kernel added under cext/ is one that load() and `vforward doctor` know of."""
    import glob
    cext = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cext")
    built = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(cext, "*.pyx")))
    assert built, "no .pyx found under cext/"
    assert sorted(kernels.KERNELS) == built
    for name in built:
        assert os.path.exists(os.path.join(cext, f"{name}_reference.py")), name
