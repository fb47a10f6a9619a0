"""Every compiled kernel in cext/ is one that vforward.kernels loads and reports."""
import glob
import os

from vforward import kernels

CEXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cext")


def test_every_pyx_kernel_is_listed_and_has_a_reference():
    built = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(CEXT, "*.pyx")))
    assert built, "no .pyx found under cext/"
    assert sorted(kernels.KERNELS) == built
    for name in built:
        assert os.path.exists(os.path.join(CEXT, f"{name}_reference.py")), name
