"""The registry of protocols: the standard suite, registered when this module is imported.

Imports run one way: this module imports the suite (which knows nothing of registries) and
registers each of its protocols, in the suite's order. More protocols may be added with
:func:`register`; a name already taken is refused, and an unknown name is answered with the valid
ones (see :class:`elsewhere.registry.Registry`).
"""

from __future__ import annotations

from elsewhere.errors import ElsewhereError
from elsewhere.registry import Registry
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.suite import standard_protocols

PROTOCOLS: Registry[Protocol] = Registry("protocol")


def register(protocol: Protocol) -> Protocol:
    """Add ``protocol`` to the registry under its name; a second protocol of the same name is refused."""
    return PROTOCOLS.register(protocol.name, protocol)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; an unknown name lists the valid ones."""
    return PROTOCOLS.get(name)


def protocol_names() -> tuple[str, ...]:
    """Every registered protocol, in registration order."""
    return PROTOCOLS.names()


def parse_protocols(text: str | None) -> tuple[Protocol, ...]:
    """Protocols from a comma-separated list (``None`` or empty: the whole suite)."""
    if not text:
        return tuple(get_protocol(n) for n in protocol_names())
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise ElsewhereError(f"protocols listed twice in {text!r}; name each once")
    return tuple(get_protocol(n) for n in names)


for _protocol in standard_protocols():
    register(_protocol)
