"""Sample ``i`` of a split, as a pure function of (seed, protocol, split, i).

Each sample draws from its own random stream, seeded by those four values (and, for the private
test set, by an operator secret), so any sample regenerates alone, shards generate in parallel in
any order, and the same seed always gives the same bytes. Probe samples share one stream per
object instance, so every position of a probe group shows the same object.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from elsewhere.generator import Scene, compose_scene
from elsewhere.splits.distributions import Factors
from elsewhere.splits.names import NO_GROUP
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.redgreen import red_green_scene

_SECRET_CONTEXT = b"elsewhere private test set v1"
# Share of a private test set scored while an evaluation round is open; the rest is scored at closing.
SHOWN_FRACTION = 0.5
PARTS = ("shown", "final")


@lru_cache(maxsize=1024)
def _word(text: str) -> int:
    """A stable 64-bit integer for a name (Python's hash() changes between runs); names repeat, so it is cached."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def secret_words(secret: str | None) -> tuple[int, ...]:
    """Entropy words derived from an operator secret; the secret itself is never stored."""
    if secret is None:
        return ()
    digest = hmac.new(secret.encode(), _SECRET_CONTEXT, hashlib.sha256).digest()
    return tuple(int.from_bytes(digest[i : i + 8], "little") for i in range(0, 32, 8))


def commitment(secret: str) -> str:
    """SHA-256 of the secret: published when a round opens, checked against the secret revealed at closing."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _keyed(secret: tuple[int, ...], purpose: str, text: str) -> bytes:
    key = b"".join(word.to_bytes(8, "little") for word in secret)
    return hmac.new(key, f"{purpose}\n{text}".encode(), hashlib.sha256).digest()


def private_id(protocol: str, split: str, index: int, secret: tuple[int, ...]) -> str:
    """The published id of a private sample: opaque, so that it reveals neither its index nor its probe group."""
    return f"{protocol}/{split}/{_keyed(secret, 'id', f'{protocol}/{split}/{index}').hex()[:20]}"


def private_part(protocol: str, split: str, index: int, secret: tuple[int, ...]) -> str:
    """Whether a private sample is scored while a round is open (``shown``) or only at closing (``final``)."""
    draw_ = int.from_bytes(_keyed(secret, "part", f"{protocol}/{split}/{index}")[:8], "little") / 2**64
    return PARTS[0] if draw_ < SHOWN_FRACTION else PARTS[1]


def sample_order(protocol: str, split: str, rows: int, secret: tuple[int, ...]) -> np.ndarray:
    """Which sample each row of a split holds: in index order, or for a private set in a secret order.

    A private split's rows are shuffled so that row order does not reveal which items share a
    probe group (and so a label).
    """
    if not secret:
        return np.arange(rows)
    return np.random.default_rng(np.random.SeedSequence([*secret, _word(protocol), _word(split)])).permutation(rows)


def stream(seed: int, protocol: str, split: str, index: int, secret: tuple[int, ...] = ()) -> np.random.Generator:
    """The random stream of one sample (or one probe instance)."""
    return np.random.default_rng(np.random.SeedSequence([seed, _word(protocol), _word(split), index, *secret]))


@dataclass(frozen=True)
class Sample:
    """Everything about one row of the dataset but its region and cell, which are vectorised."""

    id: str
    scene: Scene
    factors: Factors
    group: int


def make_scene(protocol: Protocol, split: str, factors: Factors, rng: np.random.Generator) -> tuple[Scene, Factors]:
    """The scene for ``factors`` of ``split``; a protocol's scene maker may snap the factors and
    draw a split's layouts apart (Red-Green does both)."""
    if protocol.scene == "red-green":
        return red_green_scene(split, factors, rng)
    scene = compose_scene(
        protocol.class_names[factors.label], factors.x, factors.y, factors.rotation, factors.scale, protocol.style, rng
    )
    return scene, factors


def draw(protocol: Protocol, split: str, index: int, seed: int, secret: tuple[int, ...] = ()) -> Sample:
    """Sample ``index`` of ``split``."""
    sample_id = f"{protocol.name}/{split}/{index:07d}"
    if split != "probe":
        rng = stream(seed, protocol.name, split, index, secret)
        scene, factors = make_scene(protocol, split, protocol.splits[split].sample(rng), rng)
        return Sample(sample_id, scene, factors, NO_GROUP)

    group, position = divmod(index, protocol.probe_size)
    rng = stream(seed, protocol.name, split, group, secret)
    base = protocol.splits[protocol.probe.base].sample(rng)
    appearance = int(rng.integers(2**63))
    sweep = protocol.probe.sweep
    if sweep == "location":
        x, y = protocol.grid.centre(position)
        factors = replace(base, x=float(x), y=float(y))
    else:
        factors = replace(base, **{sweep: float(protocol.probe.values[position])})
    scene, factors = make_scene(protocol, protocol.probe.base, factors, np.random.default_rng(appearance))
    return Sample(sample_id, scene, factors, group)
