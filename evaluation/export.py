"""Results that travel: a results file written into a model card's ``model-index`` on the Hub's terms.

The ``model-index`` block of a model card's YAML is how the Hub shows evaluation results on a
model page. It is built and read here only through ``huggingface_hub``'s own classes
(:class:`~huggingface_hub.EvalResult`, :class:`~huggingface_hub.ModelCard`), so what is written is
what the Hub parses. Exporting again updates the entries of the same protocol, split and metric in
place and leaves every other entry (other benchmarks, other protocols) as it was.

Not written: the Hub's newer ``.eval_results/*.yaml`` files and a dataset ``eval.yaml``. The Hub
documents ``.eval_results`` entries as pointing at a *registered benchmark* dataset and a task id
defined in that dataset's ``eval.yaml``; ``eval.yaml`` follows Inspect AI's task format and a
dataset becomes a benchmark only when Hugging Face adds it to an allow-list. This benchmark's
scoring (our harness over predictions files) is not an Inspect task, so neither file would be valid.
"""

from __future__ import annotations

from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.files import write_text_atomic

TASK_TYPE = "image-classification"
TASK_NAME = "Out-of-location image classification"
# results.metrics key, the split it is measured on, the Hub metric type and the name shown.
EXPORTED_METRICS = (
    ("ood_accuracy", "test_ood", "accuracy", "Out-of-location accuracy"),
    ("id_accuracy", "test_id", "accuracy", "In-distribution accuracy"),
    ("normalised_gap", "test_ood", "normalised_gap", "Normalised ID-OOD gap (0 = full transfer)"),
)


def eval_results(results: dict, dataset_repo: str | None = None) -> list:
    """The ``huggingface_hub.EvalResult`` entries of one results dict (one per exported metric).

    ``dataset_repo`` names the Hub dataset the results were scored on when the results do not
    (they were scored on a local folder); the revision is the commit read, else the version tag.
    """
    from huggingface_hub import EvalResult

    from elsewhere.splits.publish import check_repo_id

    dataset = results.get("dataset") or {}
    repo = dataset.get("repo_id") or dataset_repo
    if repo is None:
        raise ElsewhereError(
            "these results were scored on a local dataset folder, so they name no Hub dataset; "
            "give the repo id the folder was published as"
        )
    check_repo_id(repo)
    protocol = results["protocol"]["name"]
    entries = []
    for key, split, metric_type, metric_name in EXPORTED_METRICS:
        metric = results["metrics"].get(key)
        if not isinstance(metric, dict) or metric.get("value") is None:
            continue
        entries.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=repo,
                dataset_name=f"elsewhere: {protocol}",
                dataset_config=protocol,
                dataset_split=split,
                dataset_revision=dataset.get("revision") or dataset.get("tag"),
                metric_type=metric_type,
                metric_name=metric_name,
                metric_value=round(float(metric["value"]), 6),
                metric_config=f"protocol version {results['protocol']['version']}",
            )
        )
    return entries


def _same_slot(a, b) -> bool:
    """Two entries for the same dataset, protocol, split and metric (one replaces the other)."""
    fields = ("dataset_type", "dataset_config", "dataset_split", "metric_type", "metric_name")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def export_to_model_card(results: dict, card_path: str | Path, *, dataset_repo: str | None = None) -> int:
    """Add or update the ``model-index`` entries of ``results`` in the model card at ``card_path``.

    A missing card is created (YAML header and a title). The card is written atomically and read
    back with ``huggingface_hub``'s parser before this returns. Returns the number of entries set.
    """
    from huggingface_hub import ModelCard, ModelCardData

    card_path = Path(card_path)
    if card_path.is_dir():
        raise ElsewhereError(
            f"model card {card_path} is a folder; give the card's file, e.g. {card_path / 'README.md'}"
        )
    new = eval_results(results, dataset_repo)
    if not new:
        raise ElsewhereError(f"the results of {results['model']['name']!r} hold none of the exported metrics")
    if card_path.exists():
        card = _load_card(card_path)
    else:
        name = results["model"]["name"]
        card = ModelCard(f"---\n{ModelCardData(model_name=name).to_yaml()}\n---\n\n# {name}\n")
    kept = [old for old in (card.data.eval_results or []) if not any(_same_slot(old, e) for e in new)]
    card.data.eval_results = kept + new
    if not card.data.model_name:
        card.data.model_name = results["model"]["name"]
    try:
        text = str(card)
    except ValueError as error:
        raise ElsewhereError(f"cannot write the model-index of {card_path}: {error}") from None
    write_text_atomic(card_path, text)
    parsed = _load_card(card_path).data.eval_results or []
    if not all(any(_same_slot(e, p) and p.metric_value == e.metric_value for p in parsed) for e in new):
        raise ElsewhereError(f"{card_path} did not read back with the exported results; report this as a bug")
    return len(new)


def _load_card(path: Path):
    import yaml
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(path)
    except UnicodeDecodeError:
        raise ElsewhereError(f"model card {path} is not UTF-8 text; give a README.md") from None
    except (ValueError, yaml.YAMLError) as error:  # bad YAML header, or a model-index the Hub cannot read
        message = " ".join(str(error).split())[:200]
        raise ElsewhereError(f"model card {path} has metadata the Hub cannot parse ({message}); fix its YAML") from None
