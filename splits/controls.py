"""Which protocols are sanity controls, decided by the reference panel's committed baseline table.

A protocol is a sanity control (left out of the suite ranking) only if *every* architecture of the
panel transfers to it: each one's out-of-location accuracy, averaged over its seeds, is above
``HEADROOM``. One architecture at or below it shows headroom, and the protocol is ranked. A
protocol whose table rows are missing for some panel architecture (and none of the measured ones
shows headroom), or whose rows were measured on another version of the protocol, is *not
measured*: it is not a control, and the listings say so. Nothing here is typed by hand: the
verdicts are computed from ``panel.json`` beside this module, the table that
``benchmarks/panel_sweep.py`` (or ``elsewhere sweep``) writes.

The panel is the networks researchers bring, from a plain MLP to a ViT. The two-number
``shape-descriptors`` baseline is a row of the table but not of the panel: it reads a bounding
box's aspect and fill, cannot reach ``HEADROOM`` even in distribution, and would make every
protocol ranked whatever the networks do.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from elsewhere.splits.baseline_table import load_table
from elsewhere.splits.protocol import Protocol

HEADROOM = 0.95
PANEL = ("cnn-flatten", "cnn-gap", "resnet-small", "gcnn-c4", "vit-tiny", "mixer-tiny", "mlp")
TABLE = Path(__file__).with_name("panel.json")
CONTROL, RANKED, NOT_MEASURED = "control", "ranked", "not measured"


@dataclass(frozen=True)
class Verdict:
    """A protocol's headroom as the panel measured it.

    ``ood`` maps each panel architecture with rows of the protocol's current version to its mean
    out-of-location accuracy over seeds (``id`` to its in-distribution one, ``seeds`` to how many
    seeds); ``missing`` lists the others.
    """

    protocol: str
    version: int
    status: str
    id: dict[str, float]
    ood: dict[str, float]
    seeds: dict[str, int]
    missing: tuple[str, ...]

    def note(self) -> str:
        """One sentence for the protocol's rationale: why it is or is not ranked."""
        if self.status == CONTROL:
            lowest = min(self.ood, key=self.ood.get)
            return (
                f"Sanity control: every panel architecture transfers above {HEADROOM:.0%} out of location "
                f"(lowest {lowest}, {self.ood[lowest]:.1%}, {_seeds(self.seeds[lowest])}), so this protocol checks "
                f"that transfer works but is left out of the leaderboard's suite ranking."
            )
        if self.status == RANKED:
            lowest = min(self.ood, key=self.ood.get)
            return (
                f"Headroom: {lowest} scores {self.id[lowest]:.1%} in distribution and {self.ood[lowest]:.1%} "
                f"out of location ({_seeds(self.seeds[lowest])}, panel table)."
            )
        return (
            f"Headroom not measured: the panel table holds no version-{self.version} runs of {', '.join(self.missing)}."
        )


def _seeds(count: int) -> str:
    return "one seed" if count == 1 else f"mean of {count} seeds"


def verdict(protocol: Protocol, rows: Iterable, panel: tuple[str, ...] = PANEL) -> Verdict:
    """The verdict on ``protocol`` from baseline-table ``rows`` (``splits.baseline_table.Row``)."""
    runs: dict[str, list] = {}
    for row in rows:
        if row.protocol == protocol.name and row.protocol_version == protocol.version and row.architecture in panel:
            runs.setdefault(row.architecture, []).append(row)
    ood = {arch: statistics.fmean(r.ood_accuracy for r in runs[arch]) for arch in panel if arch in runs}
    in_distribution = {arch: statistics.fmean(r.id_accuracy for r in runs[arch]) for arch in ood}
    missing = tuple(arch for arch in panel if arch not in runs)
    if any(value <= HEADROOM for value in ood.values()):
        status = RANKED
    elif ood and not missing:
        status = CONTROL
    else:
        status = NOT_MEASURED
    seeds = {arch: len(runs[arch]) for arch in ood}
    return Verdict(protocol.name, protocol.version, status, in_distribution, ood, seeds, missing)


@functools.cache
def panel_rows(path: Path = TABLE) -> tuple:
    """The rows of the committed baseline table (read once)."""
    return tuple(load_table(path))


def mark(protocol: Protocol, rows: Iterable | None = None) -> str:
    """The listing's mark: ``control``, ``headroom not measured``, or nothing (ranked)."""
    if protocol.control:
        return CONTROL
    if verdict(protocol, panel_rows() if rows is None else rows).status == NOT_MEASURED:
        return f"headroom {NOT_MEASURED}"
    return ""
