"""elsewhere: can your network recognise it elsewhere?

The short public API: ``generate`` writes the benchmark dataset folder, ``score`` scores a
predictions file, ``evaluate`` runs a torch model; each mirrors its ``elsewhere`` command.
"""

from elsewhere.api import evaluate, generate, score

__all__ = ["evaluate", "generate", "score"]
