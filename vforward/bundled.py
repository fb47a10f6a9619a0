"""The files that ship inside the package: the example configs and labs
(configs/, installed as vforward.configs); the demo's own files are in vforward/data
(vforward.demo.data_path).

Found through importlib.resources, so a command finds them in an installed
wheel as in a source tree.  The package installs unzipped (zip_safe=False),
so each resource is a real file that a subprocess can be given by path.
"""
from __future__ import annotations

from importlib import resources


def examples_dir() -> str:
    """The bundled example configs (router.click, nat-gateway.click, ...)."""
    return str(resources.files("vforward.configs") / "examples")


def labs_dir() -> str:
    """The bundled topology files (ospf4.yaml, ring4.yaml)."""
    return str(resources.files("vforward.configs") / "labs")


def example(name: str) -> str:
    """The path of one bundled example config, e.g. example("router.click")."""
    return str(resources.files("vforward.configs") / "examples" / name)


def lab(name: str) -> str:
    """The path of one bundled lab, e.g. lab("ospf4.yaml")."""
    return str(resources.files("vforward.configs") / "labs" / name)

