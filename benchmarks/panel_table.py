"""The README's panel table, printed from a baseline table (default: the committed ``splits/panel.json``).

One row per protocol, one column per architecture: in-distribution → out-of-location accuracy
(mean ± sd over seeds where there are several; ``–`` where no run of the protocol's current version
is in the table), and the protocol's verdict from :mod:`elsewhere.splits.controls`.

    python benchmarks/panel_table.py [TABLE]
"""

from __future__ import annotations

import sys

from elsewhere.leaderboard.views import accuracy_cell as cell
from elsewhere.splits.baseline_table import load_table
from elsewhere.splits.controls import PANEL, TABLE, verdict
from elsewhere.splits.registry import get_protocol, protocol_names

COLUMNS = (*PANEL, "shape-descriptors")
RED_GREEN = ("redgreen-valid", "redgreen-same", "redgreen-full", "redgreen-circular")


def main() -> None:
    rows = load_table(sys.argv[1] if len(sys.argv) > 1 else TABLE)
    print("| protocol | " + " | ".join(f"`{a}`" for a in COLUMNS) + " | verdict |")
    print("| --- " * (len(COLUMNS) + 2) + "|")
    for name in protocol_names():
        protocol = get_protocol(name)
        current = [r for r in rows if r.protocol == name and r.protocol_version == protocol.version]
        cells = [cell([(r.id_accuracy, r.ood_accuracy) for r in current if r.architecture == a]) for a in COLUMNS]
        status = verdict(protocol, rows).status
        print(f"| `{name}` | " + " | ".join(cells) + f" | {status} |")
    red_green = [r for r in rows if r.protocol == "red-green" and r.architecture in RED_GREEN]
    if red_green:
        print()
        print("| Red-Green network | similar (test_id) → dissimilar (test_ood) |")
        print("| --- | --- |")
        for arch in RED_GREEN:
            print(
                f"| `{arch}` | {cell([(r.id_accuracy, r.ood_accuracy) for r in red_green if r.architecture == arch])} |"
            )


if __name__ == "__main__":
    main()
