"""Optional dependencies: which extra of the package provides each, and one line on how to get it.

The core (generating the dataset, scoring a predictions file) needs neither torch nor gradio; running
models needs the ``torch`` extra, serving the leaderboard the ``leaderboard`` extra, running on a Ray
cluster the ``ray`` extra, the panel's library backbones (``timm:NAME``, ``torchvision:NAME``) the
``backbones`` extra. Where such a module is missing, :func:`optional_dependencies` turns
Python's ``ModuleNotFoundError`` into an :class:`~elsewhere.errors.ElsewhereError` that names the
extra to install; a missing module that no extra provides is a broken installation and keeps its
traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from elsewhere.errors import ElsewhereError

# Top-level module -> the extra that installs it (see pyproject.toml).
EXTRAS = {
    "torch": "torch",
    "safetensors": "torch",
    "gradio": "leaderboard",
    "ray": "ray",
    "timm": "backbones",
    "torchvision": "backbones",
}


def missing_extra(error: ModuleNotFoundError) -> ElsewhereError | None:
    """The user error for a missing optional dependency, or None if ``error`` is about another module."""
    module = (error.name or "").partition(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return ElsewhereError(
        f"this needs {module}, which is not installed; install the {extra!r} extra: pip install 'elsewhere[{extra}]'"
    )


@contextmanager
def optional_dependencies() -> Iterator[None]:
    """Inside, a missing optional dependency raises :class:`ElsewhereError` naming its extra."""
    try:
        yield
    except ModuleNotFoundError as error:
        user_error = missing_extra(error)
        if user_error is None:
            raise
        raise user_error from error
