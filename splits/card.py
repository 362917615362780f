"""The dataset card: the README.md that makes the folder a Hugging Face dataset repo.

Its YAML header declares one config per protocol (``data_files`` per split, the first protocol the
default) so that ``load_dataset(folder, protocol)`` needs no loading script; its body documents
the factors, every protocol and why its regions test what they claim, shows example images of
every split (rendered here, from the same pure samples as the shards), and lists every shard's
sha256.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from elsewhere.generator import render
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.sampling import draw
from elsewhere.splits.shards import Job

EXAMPLES = 16
EXAMPLE_ZOOM = 2
LICENSE = "cc-by-4.0"

COLUMNS = """\
| column | type | meaning |
| --- | --- | --- |
| `id` | string | unique, stable: `<protocol>/<split>/<index>` |
| `image` | Image (PNG) | the rendered canvas, RGB |
| `label` | ClassLabel | the object's class (names in the features){withheld} |
| `x`, `y` | float32 | object centre as a fraction of the canvas side; origin top-left, y down |
| `rotation` | float32 | degrees, counter-clockwise as seen |
| `scale` | float32 | side of the shape's canonical square frame as a fraction of the canvas side |
| `cell` | int32 | cell of the protocol's location grid holding (x, y): row × n + column, -1 outside |
| `group` | int32 | probe group: the same object instance at every probe position; -1 outside the probe |
| `region` | string | `train`, `held-out`, `pretrain`, or `between` (in neither) |
"""


def _size_category(rows: int) -> str:
    for bound, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if rows < bound:
            return name
    return "10M<n<100M"


def _header(protocols: tuple[Protocol, ...], manifest: dict) -> str:
    rows = sum(split["rows"] for entry in manifest["protocols"].values() for split in entry["splits"].values())
    configs = []
    for i, protocol in enumerate(protocols):
        config = {"config_name": protocol.name}
        if i == 0:
            config["default"] = True
        config["data_files"] = [
            {"split": split, "path": f"data/{protocol.name}/{split}-*"} for split in protocol.split_names
        ]
        configs.append(config)
    header = {
        "license": LICENSE,
        "pretty_name": "elsewhere: out-of-location generalisation",
        "task_categories": ["image-classification"],
        "size_categories": [_size_category(rows)],
        "tags": ["synthetic", "out-of-distribution", "translation-invariance", "benchmark"],
        "configs": configs,
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n"


def _example_grid(protocol: Protocol, split: str, job: Job) -> Image.Image:
    count = min(protocol.probe_size if split == "probe" else EXAMPLES, protocol.split_size(split, job.size))
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    side = protocol.canvas
    sheet = np.zeros((rows * (side + 2), columns * (side + 2), 3), dtype=np.uint8)
    for i in range(count):
        image = render(draw(protocol, split, i, job.seed, job.secret).scene, side)
        r, c = divmod(i, columns)
        sheet[r * (side + 2) : r * (side + 2) + side, c * (side + 2) : c * (side + 2) + side] = image
    return Image.fromarray(sheet).resize((sheet.shape[1] * EXAMPLE_ZOOM, sheet.shape[0] * EXAMPLE_ZOOM), Image.NEAREST)


def _protocol_section(folder: Path, protocol: Protocol, entry: dict, job: Job) -> str:
    lines = [
        f"### `{protocol.name}` (version {protocol.version}) — {protocol.title}",
        "",
        protocol.description,
        "",
        f"*Why it tests what it claims:* {protocol.rationale}",
        "",
        f"Held-out factor: {', '.join(protocol.held_out)}"
        + (" — **sanity control: left out of the leaderboard's suite ranking**" if protocol.control else "")
        + f". Family: {protocol.family}. Canvas: {protocol.canvas}×{protocol.canvas}. "
        f"Location grid: {protocol.grid.n}×{protocol.grid.n} cells. "
        f"Fingerprint: `{entry['fingerprint']}`.",
        "",
        f"Classes: {', '.join(f'`{c}`' for c in protocol.class_names)}.",
        "",
        "| split | rows | distribution | examples |",
        "| --- | --- | --- | --- |",
    ]
    for split in protocol.split_names:
        image = Path("images") / protocol.name / f"{split}.png"
        (folder / image).parent.mkdir(parents=True, exist_ok=True)
        _example_grid(protocol, split, job).save(folder / image)
        if split == "probe":
            what = (
                f"instances of `{protocol.probe.base}` swept over {protocol.probe.sweep} "
                f"({protocol.probe_size} positions each)"
            )
        else:
            what = protocol.splits[split].describe()
        lines.append(f"| `{split}` | {entry['splits'][split]['rows']} | {what} | ![{split}]({image}) |")
    return "\n".join(lines) + "\n"


def write_card(folder: Path, protocols: tuple[Protocol, ...], manifest: dict, job: Job) -> None:
    """Write README.md (and the example images it shows) into the dataset ``folder``."""
    entries = manifest["protocols"]
    withheld = " — **withheld in this private variant: every label is -1**" if job.withhold_labels else ""
    body = [
        "# elsewhere — can your network recognise it elsewhere?",
        "",
        "A benchmark for out-of-location generalisation: objects are seen in training only at some "
        "locations (rotations, scales) of the canvas and tested at others. Each config is one "
        "protocol; every protocol has the splits `train`, `validation`, `test_id` (training "
        "distribution, fresh samples), `test_ood` (the held-out factors) and `probe` (the same "
        "objects at every location cell, rotation or scale bin, for maps, consistency and flip "
        "rate); some add `pretrain`.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("<this repo or folder>", "{protocols[0].name}")',
        "```",
        "",
        f"Generated by `elsewhere generate --size {job.size} --seed {job.seed}` "
        f"(variant: {manifest['variant']}); same seed and version give byte-identical shards. "
        "Every image is a pure function of (seed, protocol, split, index).",
        "",
        "## Columns",
        "",
        COLUMNS.format(withheld=withheld),
        "## Protocols",
        "",
    ]
    body += [_protocol_section(folder, p, entries[p.name], job) for p in protocols]
    body += ["## Checksums", "", "| shard | rows | sha256 |", "| --- | --- | --- |"]
    for entry in entries.values():
        for split in entry["splits"].values():
            body += [f"| `{s['path']}` | {s['rows']} | `{s['sha256']}` |" for s in split["shards"]]
    body += [
        "",
        "## License",
        "",
        f"{LICENSE.upper()}: the images are synthetic, made by this project's generator.",
        "",
    ]
    (folder / "README.md").write_text(_header(protocols, manifest) + "\n" + "\n".join(body))
