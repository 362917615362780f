"""What the leaderboard says about itself: each protocol in words, its example images, the rules.

The protocol texts come from the registry (``splits.registry``), the example images from the
dataset the leaderboard scores against: ``<data>/images/<protocol>/<split>.png``, a grid of samples
per split that ``elsewhere generate`` writes beside the shards (fetched from the Hub when ``data``
is a repo id). A missing image is reported on the page, not skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elsewhere.leaderboard.table import suite_protocols
from elsewhere.splits.registry import get_protocol

IMAGES = "images"
# The splits whose example grids the About tab shows: what a model trains on, and where it is tested.
EXAMPLE_SPLITS = (
    ("train", "train: what a model learns from"),
    ("test_ood", "test_ood: the held-out locations it is scored on"),
)


@dataclass(frozen=True)
class Example:
    """One example grid: its file (None if unavailable), caption, and why it is missing."""

    path: Path | None
    caption: str
    missing: str = ""


@dataclass(frozen=True)
class ProtocolPage:
    """A protocol explained: a Markdown text and its example grids."""

    name: str
    title: str
    text: str
    examples: tuple[Example, ...]


def protocol_pages(data: str | Path, protocols: tuple[str, ...]) -> list[ProtocolPage]:
    """One page per protocol of the leaderboard, in the dataset's order."""
    pages = []
    for name in protocols:
        protocol = get_protocol(name)
        factors = ", ".join(protocol.held_out) or "none"
        control = (
            " This is a **sanity control** (see why above), so it is left out of the suite mean."
            if protocol.control
            else ""
        )
        text = (
            f"**{protocol.title}** (`{protocol.name}`, version {protocol.version}; held-out factor: {factors})\n\n"
            f"{protocol.description}\n\n*Why:* {protocol.rationale}{control}"
        )
        examples = tuple(example_image(data, name, split, caption) for split, caption in EXAMPLE_SPLITS)
        pages.append(ProtocolPage(name=name, title=protocol.title, text=text, examples=examples))
    return pages


def example_image(data: str | Path, protocol: str, split: str, caption: str) -> Example:
    """The example grid of ``split`` of ``protocol`` in ``data`` (a folder or a Hub repo id)."""
    relative = f"{IMAGES}/{protocol}/{split}.png"
    if Path(data).is_dir():
        path = Path(data) / relative
        if path.is_file():
            return Example(path, caption)
        return Example(None, caption, f"no example image at {path}; regenerate the dataset with elsewhere generate")
    from huggingface_hub import hf_hub_download

    try:
        return Example(Path(hf_hub_download(str(data), relative, repo_type="dataset")), caption)
    except Exception as error:  # the hub client raises many types; all mean "not available"
        return Example(None, caption, f"example image {relative} of {data} is unavailable ({type(error).__name__})")


def rules(variant: str, protocols: tuple[str, ...], max_upload_bytes: int, rate_limit_per_day: int) -> str:
    """How to submit and how the ranking works, in Markdown."""
    suite = suite_protocols(protocols)
    private = (
        "This leaderboard scores the **private** test set: its images are published without labels, and the "
        "labels are held by the leaderboard alone. Download the private variant, predict, and upload.\n\n"
        "It is scored in **evaluation rounds**. The hidden set has a *shown* and a *final* part. While a round "
        "is open, the table shows scores on the shown part only, rounded to a step of at least 1/√n so that a "
        "single changed prediction does not show; your predictions are sealed. When the operator closes the "
        "round, every sealed submission is scored on the final part, and that is the round's ranking. At "
        "opening the board publishes the SHA-256 of the round's secret, at closing the secret itself, from "
        "which anyone can regenerate the labels and check every score (`elsewhere round verify`)."
        if variant == "private"
        else "This leaderboard scores the **public** variant of the dataset, whose labels you can also use to "
        "score yourself with `elsewhere score`."
    )
    return f"""
## How to submit
Train on the `train` (and `validation`) split of a protocol, predict every item of its evaluated
splits (`test_id`, `test_ood`, `probe`), and upload one file: CSV, Parquet or JSON lines with a
column `id` (the item's id, exactly as in the dataset), `prediction` (class index or class name)
and, optionally, `probabilities` (one per class, summing to 1). Every evaluated item exactly once.
The leaderboard scores the file against the labels it holds; a score you compute yourself is never
used. Files are at most {max_upload_bytes / 2**20:g} MiB, and are deleted once scored or refused.
Each submitter may submit {rate_limit_per_day} times in any 24 hours, counted against who they are
rather than the name they type: the Hugging Face account they sign in with (on a Space), the user
they sign in as (a board with passwords), else their network address. The same predictions are
accepted once per protocol. A link of the form `?protocol=NAME&model=ID` opens an entry's page, and
the table downloads as CSV.

{private}

## How the ranking works
Entries are ranked by **out-of-location (OOD) accuracy**: accuracy on `test_ood`, the locations
(rotations, scales) never seen in training, with a 95% interval. The first entry is the leader; an
entry marked **tie** has an interval that overlaps the leader's, so the data cannot separate it from
the leader. Equal accuracies share a rank.

The **whole suite** view ranks models (same submitter and model name) by their mean OOD
accuracy over the {len(suite)} non-control protocols, using each model's latest entry per protocol.
Only models with an entry on every one of them are ranked; a model missing protocols is listed
below, unranked, with its mean over the protocols it has and its coverage (`k/{len(suite)}`),
because a mean over an easier subset is not comparable. The interval of the mean treats the
protocols' test sets as independent.

Filters (family, parameters, verified, search) only hide rows: ranks and ties stay those of the
whole board. **Verified** entries were run by the operator from released code and weights.
"""
