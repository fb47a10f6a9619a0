"""Build script: the Python packages plus every Cython kernel under cext/.

The tree keeps `elements/`, `cext/` and `configs/` at the top level (the
catalogue is the folder tree); they install as `vforward.elements`,
`vforward.cext` and `vforward.configs` (the bundled examples and labs, which
commands read through importlib.resources).  MANIFEST.in puts the Cython
sources (.pyx, .pxi, .pxd) in the sdist, so a wheel built from it is compiled too.
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_namespace_packages, find_packages, setup

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
    # include_path: the kernels cimport the .pxd files beside them (shared inline checks).
    return cythonize(exts, language_level=3, quiet=True, include_path=["cext"],
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "initializedcheck": False})


def _packages():
    pkgs = [p for p in find_packages(include=["vforward", "vforward.*"])]
    pkgs += ["vforward.elements"] + ["vforward.elements." + p for p in find_packages("elements")]
    pkgs += ["vforward.cext", "vforward.configs"]
    # the folders of examples and labs hold data only: listed so that their files ship
    data = find_namespace_packages("configs", exclude=["*__pycache__*"])
    pkgs += ["vforward.configs." + p for p in data]
    return pkgs


setup(
    packages=_packages(),
    package_dir={"vforward": "vforward", "vforward.elements": "elements", "vforward.cext": "cext",
                 "vforward.configs": "configs"},
    package_data={"vforward": ["config/*.lark"],
                  "vforward.data": ["*.click", "*.yaml", "*.pcap"],
                  "vforward.configs.examples": ["*.click"],
                  "vforward.configs.examples.custom": ["*.click", "*.py"],
                  "vforward.configs.labs": ["*.yaml"]},
    ext_modules=_extensions(),
    options={"build_ext": {"parallel": os.cpu_count() or 1}},   # the kernels compile side by side
    zip_safe=False,
)
