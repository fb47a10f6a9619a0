"""Finding element classes: the built-in library, installed plugins, user files.

Built-in elements live in `vforward.elements.<area>`; other installed
packages add modules through the `vforward.elements` entry-point group; a
user passes Python files with `--elements my_elements.py`.  Importing a
module registers every Element subclass it defines.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys

from vforward.element import ELEMENT_CLASSES

_loaded_builtin = False


def load_builtin() -> dict:
    """Import every module of the built-in element library (once)."""
    global _loaded_builtin
    if not _loaded_builtin:
        import vforward.elements as pkg
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(info.name)
        for ep in importlib.metadata.entry_points(group="vforward.elements"):
            ep.load()
        _loaded_builtin = True
    return ELEMENT_CLASSES


def load_file(path: str) -> list[str]:
    """Import a user's element file; returns the class names it registered."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"element file {path!r} does not exist")
    before = set(ELEMENT_CLASSES)
    modname = "vforward_user_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return sorted(set(ELEMENT_CLASSES) - before)


def element_classes() -> dict:
    return load_builtin()
