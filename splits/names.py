"""The published dataset's names every stage agrees on: its splits, and the group of a non-probe item.

Kept apart from :mod:`splits.protocol` so that scoring (``evaluation.truth``) can use them without
importing the generator.
"""

# Every protocol samples these; the probe is derived (the same objects swept over a grid).
SAMPLED_SPLITS = ("train", "validation", "test_id", "test_ood")
PROBE = "probe"
# The splits every protocol is scored on, in the order they are reported; other test splits follow by name.
EVALUATED_SPLITS = ("test_id", "test_ood", PROBE)
# A protocol's further test splits (Red-Green's ``test_moved``) are scored too: they are named ``test_*``.
TEST_PREFIX = "test_"
# The ``group`` column of an item outside the probe.
NO_GROUP = -1


def is_evaluated(split: str) -> bool:
    """Whether ``split`` is scored: a standard evaluated split, or a further test split a protocol adds."""
    return split in EVALUATED_SPLITS or split.startswith(TEST_PREFIX)
