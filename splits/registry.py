"""The explicit registry of protocols: registered by name, duplicates refused, unknown names answered."""

from __future__ import annotations

import difflib

from elsewhere.errors import ElsewhereError
from elsewhere.splits.protocol import Protocol

_PROTOCOLS: dict[str, Protocol] = {}


def register(protocol: Protocol) -> Protocol:
    """Add ``protocol`` to the registry; a second protocol of the same name is refused."""
    if protocol.name in _PROTOCOLS:
        raise ElsewhereError(f"protocol {protocol.name!r} is already registered; choose another name")
    _PROTOCOLS[protocol.name] = protocol
    return protocol


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; an unknown name lists the valid ones."""
    _load_suite()
    if name not in _PROTOCOLS:
        close = difflib.get_close_matches(name, _PROTOCOLS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ElsewhereError(f"unknown protocol {name!r}{hint}; valid protocols: {', '.join(_PROTOCOLS)}")
    return _PROTOCOLS[name]


def protocol_names() -> tuple[str, ...]:
    """Every registered protocol, in registration order."""
    _load_suite()
    return tuple(_PROTOCOLS)


def parse_protocols(text: str | None) -> tuple[Protocol, ...]:
    """Protocols from a comma-separated list (``None`` or empty: the whole suite)."""
    if not text:
        return tuple(get_protocol(n) for n in protocol_names())
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise ElsewhereError(f"protocols listed twice in {text!r}; name each once")
    return tuple(get_protocol(n) for n in names)


def _load_suite() -> None:
    # The suite registers itself on import; importing it here keeps the registry explicit
    # without making every user import the suite by hand.
    import elsewhere.splits.suite  # noqa: F401
