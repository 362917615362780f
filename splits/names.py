"""The published dataset's names every stage agrees on: its splits, and the group of a non-probe item.

Kept apart from :mod:`splits.protocol` so that scoring (``evaluation.truth``) can use them without
importing the generator.
"""

# Every protocol samples these; the probe is derived (the same objects swept over a grid).
SAMPLED_SPLITS = ("train", "validation", "test_id", "test_ood")
PROBE = "probe"
# The splits every protocol is scored on, in the order they are reported; other test splits follow by name.
EVALUATED_SPLITS = ("test_id", "test_ood", PROBE)
# The ``group`` column of an item outside the probe.
NO_GROUP = -1
