"""Reading YAML while keeping each value's line, so errors can name it.

`load_located(text, filename)` returns plain dicts/lists/scalars, where every
dict is a `LocatedDict` that knows its own line and each key's line.
"""
from __future__ import annotations

import yaml


class LocatedDict(dict):
    """A mapping from a YAML file that remembers where it and its keys were."""
    file: str = "<topology>"
    line: int = 0
    key_lines: dict

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class LocatedList(list):
    file: str = "<topology>"
    line: int = 0
    item_lines: list

    def where(self, i: int | None = None) -> str:
        line = self.item_lines[i] if i is not None and i < len(self.item_lines) else self.line
        return f"{self.file}:{line}"


class TopologyYAMLError(ValueError):
    """The file is not valid YAML; the message names the line."""


def _loader_for(filename: str):
    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        loader.flatten_mapping(node)
        out = LocatedDict()
        out.file, out.line, out.key_lines = filename, node.start_mark.line + 1, {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if isinstance(key, (dict, list)):
                raise TopologyYAMLError(f"{filename}:{knode.start_mark.line + 1}: a key must be "
                                        "a single name, not a list or a mapping")
            if key in out:
                raise TopologyYAMLError(f"{filename}:{knode.start_mark.line + 1}: key '{key}' "
                                        f"appears twice in this mapping; keep one")
            out[key] = loader.construct_object(vnode, deep=True)
            out.key_lines[key] = knode.start_mark.line + 1
        return out

    def sequence(loader, node):
        out = LocatedList(loader.construct_object(v, deep=True) for v in node.value)
        out.file, out.line = filename, node.start_mark.line + 1
        out.item_lines = [v.start_mark.line + 1 for v in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


def load_located(text: str, filename: str = "<topology>"):
    try:
        return yaml.load(text, Loader=_loader_for(filename))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        raise TopologyYAMLError(f"{filename}:{line}: not valid YAML: {e.problem or e}") from None
    except yaml.reader.ReaderError as e:   # a control character; it carries no mark
        before = text[:e.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise TopologyYAMLError(f"{filename}:{line}:{column}: not valid YAML: character "
                                f"{e.character:#04x} is not allowed; remove it") from None
