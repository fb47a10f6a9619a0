"""Build script: the Python packages plus every Cython kernel under cext/.

The tree keeps `elements/` and `cext/` at the top level (the catalogue is the
folder tree); they install as `vforward.elements` and `vforward.cext`.
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _extensions():
    exts = []
    for pyx in sorted(glob.glob(os.path.join("cext", "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        exts.append(Extension(
            "vforward.cext." + name, [pyx],
            include_dirs=[numpy.get_include()],
            extra_compile_args=["-O3", "-march=x86-64-v2", "-fno-strict-aliasing"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        ))
    return cythonize(exts, language_level=3, quiet=True,
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "initializedcheck": False})


def _packages():
    pkgs = [p for p in find_packages(include=["vforward", "vforward.*"])]
    pkgs += ["vforward.elements"] + ["vforward.elements." + p for p in find_packages("elements")]
    pkgs += ["vforward.cext"]
    return pkgs


setup(
    packages=_packages(),
    package_dir={"vforward": "vforward", "vforward.elements": "elements", "vforward.cext": "cext"},
    package_data={"vforward": ["config/*.lark", "data/*"]},
    ext_modules=_extensions(),
    zip_safe=False,
)
