"""The README's panel table and Red-Green table, printed from a baseline table (default: the committed
``splits/panel.json``).

The panel table: one row per protocol, one column per architecture, in-distribution → out-of-location
accuracy (mean ± sd over seeds where there are several; ``–`` where no run of the protocol's current
version is in the table), and the protocol's verdict from :mod:`elsewhere.splits.controls` (as the
board shows it: ``iid`` is a control by design). The
Red-Green table: the networks of Kayhan & van Gemert beside the paper's figures, ours as mean ± sd
over the seeds in the table (with one seed, its 95% interval), and the ``test_moved`` split the paper
does not have; then ``redgreen-circular``, the authors' circular padding of 2 as PyTorch runs it today.

``--merge OTHER`` first adds the runs of another baseline table (a sweep's ``baselines.json``) to
TABLE, refusing a run that both hold with different figures; TABLE is rewritten whole, with every OTHER's
runs, or not at all. ``--drop ARCH`` first removes every run of an architecture whose definition or
recipe changed, so that its new runs can be merged (in the same write).

    python benchmarks/panel_table.py [TABLE] [--drop ARCH ...] [--merge OTHER ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from elsewhere.errors import ElsewhereError
from elsewhere.leaderboard.views import accuracy_cell as cell
from elsewhere.leaderboard.views import panel_verdict
from elsewhere.splits.baseline_table import Row, load_table, merge_table
from elsewhere.splits.controls import PANEL, TABLE, verdict
from elsewhere.splits.registry import get_protocol, protocol_names

COLUMNS = (*PANEL, "shape-descriptors")
RED_GREEN_PROTOCOL = "red-green"
MOVED = "test_moved"
# Kayhan & van Gemert, "On Translation Invariance in CNNs: Convolutional Layers can Exploit Absolute
# Spatial Location" (CVPR 2020), section "Border handling variants", as published in the authors'
# repository README: (padding, similar, dissimilar), percent, mean ± std over 10 runs.
# The authors' circular network asks for padding 2; PyTorch before 1.5 split a circular padding
# between the two sides ((p + 1) // 2 and p // 2, pytorch/pytorch#20981), so it ran with 1 on each:
# ``redgreen-periodic``. ``redgreen-circular`` is padding 2 as PyTorch runs it today.
PAPER = {
    "redgreen-valid": ("V-Conv, no padding", (100.0, 0.0), (0.2, 0.1)),
    "redgreen-same": ("S-Conv, zero padding 1", (99.8, 0.1), (8.4, 0.7)),
    "redgreen-full": ("F-Conv, zero padding 2", (89.7, 0.5), (89.7, 0.5)),
    "redgreen-periodic": ("circular padding 1 (the paper's 2, as PyTorch < 1.5 ran it)", (73.7, 1.0), (73.7, 1.0)),
    "redgreen-circular": ("circular padding 2 (as PyTorch ≥ 1.5 runs the paper's code)", None, None),
}


def percent(values: list[float], cis: list[tuple[float, float]]) -> str:
    """Accuracy in percent: mean ± sd over several seeds, one seed's value with its 95% interval, or ``–``."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f} [{100 * cis[0][0]:.1f}, {100 * cis[0][1]:.1f}]"
    return f"{100 * statistics.fmean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def red_green_table(rows: list[Row]) -> list[str]:
    """Markdown lines: each Red-Green network's figures in the paper beside ours, on the current version."""
    version = get_protocol(RED_GREEN_PROTOCOL).version
    lines = [
        "| network | padding | paper: similar | paper: dissimilar | ours: similar (test_id) "
        f"| ours: dissimilar (test_ood) | ours: moved ({MOVED}) | seeds |",
        "| --- " * 8 + "|",
    ]
    for arch, (padding, similar, dissimilar) in PAPER.items():
        runs = [
            r for r in rows if (r.protocol, r.protocol_version, r.architecture) == (RED_GREEN_PROTOCOL, version, arch)
        ]
        moved = [r.further_tests[MOVED] for r in runs if MOVED in r.further_tests]
        ours = [
            percent([r.id_accuracy for r in runs], [r.id_ci for r in runs]),
            percent([r.ood_accuracy for r in runs], [r.ood_ci for r in runs]),
            percent([m["accuracy"] for m in moved], [tuple(m["ci"]) for m in moved]),
        ]
        seeds = ", ".join(str(r.seed) for r in sorted(runs, key=lambda r: r.seed)) or "none"
        paper = [f"{f[0]:.1f} ± {f[1]:.1f}" if f else "–" for f in (similar, dissimilar)]
        lines.append(f"| `{arch}` | {padding} | " + " | ".join(paper + ours) + f" | {len(runs)} ({seeds}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", nargs="?", default=str(TABLE), help="baseline table (default: splits/panel.json)")
    parser.add_argument("--merge", action="append", default=[], metavar="OTHER", help="add this table's runs first")
    parser.add_argument("--drop", action="append", default=[], metavar="ARCH", help="remove this architecture's runs")
    args = parser.parse_args()
    try:
        if args.merge or args.drop:  # all in one write: a refused table leaves TABLE as it was
            added, total = merge_table(args.table, *args.merge, protocols=protocol_names(), drop=args.drop)
            print(
                f"dropped {', '.join(args.drop) or 'nothing'}, merged {', '.join(args.merge) or 'nothing'}: "
                f"{added} runs added, {total} in {args.table}",
                file=sys.stderr,
            )
        rows = load_table(args.table)
    except (ElsewhereError, OSError) as error:  # OSError: the table cannot be written
        sys.exit(f"panel_table: error: {error}")
    print("| protocol | " + " | ".join(f"`{a}`" for a in COLUMNS) + " | verdict |")
    print("| --- " * (len(COLUMNS) + 2) + "|")
    for name in protocol_names():
        protocol = get_protocol(name)
        current = [r for r in rows if r.protocol == name and r.protocol_version == protocol.version]
        cells = [cell([(r.id_accuracy, r.ood_accuracy) for r in current if r.architecture == a]) for a in COLUMNS]
        status, _ = panel_verdict(protocol, rows)  # the board's verdict: the panel's, or a control by design
        if status != verdict(protocol, rows).status:
            status += " by design"
        print(f"| `{name}` | " + " | ".join(cells) + f" | {status} |")
    print()
    print("\n".join(red_green_table(rows)))


if __name__ == "__main__":
    main()
