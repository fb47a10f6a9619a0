"""Configuration errors: where they happened, and what the user meant."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Location:
    """A place in a configuration file; line and column count from 1."""
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class ConfigError(Exception):
    """A configuration the user must fix; str() is 'file:line:col: message'."""

    def __init__(self, message: str, loc: Location | None = None):
        self.message = message
        self.loc = loc
        super().__init__(f"{loc}: {message}" if loc else message)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to name, or None if nothing is close.

    A candidate equal to name up to case wins outright ('counter' ->
    'Counter'); otherwise difflib ranks them, ignoring case.
    """
    candidates = list(candidates)
    if name in candidates:
        return name
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None
