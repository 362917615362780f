"""Paired comparison of two results on the same items: is model A really better than model B?

Both results must come from the same protocol, version and dataset fingerprint, and cover the
same items of the split (equal ``ids_sha256``). Then each item is a pair of outcomes, and the
comparison uses only the items where the two models disagree on correctness: McNemar's exact
test gives the p-value, the Agresti–Min interval the difference (see :mod:`evaluation.stats`).
Pairing makes this far more sensitive than comparing two accuracies with separate intervals.
"""

from __future__ import annotations

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation import stats
from elsewhere.evaluation.results import correct_items

_SAME = (("name", "protocol"), ("version", "protocol version"), ("fingerprint", "dataset fingerprint"))


def compare_results(a: dict, b: dict, split: str = "test_ood") -> dict:
    """Compare results ``a`` and ``b`` on ``split``; ``difference`` is accuracy a − accuracy b.

    Raises:
        ValueError: if the two were scored on different protocols, data or items.
    """
    for key, what in _SAME:
        left, right = a["protocol"][key], b["protocol"][key]
        if left != right:
            raise ElsewhereError(
                f"cannot compare results of different {what}s ({left!r} vs {right!r}); "
                "compare results scored on the same data"
            )
    ids_a, correct_a = correct_items(a, split)
    ids_b, correct_b = correct_items(b, split)
    if ids_a != ids_b or correct_a.size != correct_b.size:
        raise ElsewhereError(
            f"the two results cover different {split} items (ids sha256 {ids_a[:12]}... vs "
            f"{ids_b[:12]}...); compare results scored on the same items"
        )
    if correct_a.size == 0:
        raise ElsewhereError(f"split {split!r} has no items to compare")
    difference, interval, p_value = stats.mcnemar_test(correct_a, correct_b)
    n = int(correct_a.size)
    return {
        "split": split,
        "n": n,
        "models": [a["model"]["name"], b["model"]["name"]],
        "accuracy_a": float(correct_a.mean()),
        "accuracy_b": float(correct_b.mean()),
        "difference": {"value": difference, "ci": list(interval), "n": n},
        "p_value": p_value,
        "discordant": {
            "a_only": int((correct_a & ~correct_b).sum()),
            "b_only": int((~correct_a & correct_b).sum()),
        },
        "confidence": stats.CONFIDENCE,
    }
