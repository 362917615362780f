"""The one error a user can act on.

Every mistake in what a user supplies (a file, a name, an option, a setting) is raised as an
``ElsewhereError``: the command line prints its one-line message and exits non-zero, the
leaderboard shows it. Anything else that escapes is a bug and keeps its traceback. It subclasses
``ValueError`` so that callers who catch that keep working. This module imports nothing, so every
stage may use it without breaking the rule that imports point one way.
"""


class ElsewhereError(ValueError):
    """Bad input: the message says what was received, what is allowed, and how to fix it."""
