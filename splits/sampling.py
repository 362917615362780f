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

import numpy as np

from elsewhere.generator import Scene, compose_scene
from elsewhere.splits.distributions import Factors
from elsewhere.splits.names import NO_GROUP
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.redgreen import red_green_scene

_SECRET_CONTEXT = b"elsewhere private test set v1"


def _word(text: str) -> int:
    """A stable 64-bit integer for a name (Python's hash() changes between runs)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def secret_words(secret: str | None) -> tuple[int, ...]:
    """Entropy words derived from an operator secret; the secret itself is never stored."""
    if secret is None:
        return ()
    digest = hmac.new(secret.encode(), _SECRET_CONTEXT, hashlib.sha256).digest()
    return tuple(int.from_bytes(digest[i : i + 8], "little") for i in range(0, 32, 8))


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
