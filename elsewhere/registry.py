"""Explicit registries of named things (protocols, architectures): one class for every kind.

An entry is added by name with :meth:`Registry.register`; a second entry of the same name is
refused rather than silently replacing the first. Looking up an unknown name raises an
:class:`~elsewhere.errors.ElsewhereError` that suggests the closest name and lists the valid ones.
Names are listed in registration order, which the registering module chooses to be meaningful.
Like :mod:`elsewhere.errors`, this module imports nothing of ours beyond that, so every stage may
use it without breaking the rule that imports point one way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from elsewhere.errors import ElsewhereError

T = TypeVar("T")

# Longer names are not worth a "did you mean" (and are shortened when quoted back).
_LONGEST_NAME_QUOTED = 80


class Registry(Generic[T]):
    """Entries of one ``kind`` (e.g. ``"protocol"``) by name.

    Args:
        kind: what an entry is, in the singular, as error messages should call it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` as ``name`` and return it; a name already taken, or an empty one, is refused."""
        if not isinstance(name, str) or not name.strip():
            raise ElsewhereError(f"a {self.kind} name must be a non-empty string; got {name!r}")
        if name in self._entries:
            raise ElsewhereError(f"{self.kind} {name!r} is already registered; choose another name")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name is answered with the closest and the valid ones."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        shown = repr(name) if len(repr(name)) <= _LONGEST_NAME_QUOTED else repr(name)[:_LONGEST_NAME_QUOTED] + "…"
        close = (
            difflib.get_close_matches(name, self._entries, n=1)
            if isinstance(name, str) and len(name) <= _LONGEST_NAME_QUOTED
            else []
        )
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        valid = ", ".join(self._entries) or "none are registered"
        raise ElsewhereError(f"unknown {self.kind} {shown}{hint}; valid {self.kind}s: {valid}")

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def copy(self) -> Registry[T]:
        """A new registry with the same entries (to extend without touching this one)."""
        twin: Registry[T] = Registry(self.kind)
        twin._entries = dict(self._entries)
        return twin

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
