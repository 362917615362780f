"""The leaderboard's settings, read from the environment each time they are asked for.

Nothing is read at import time, so a test or an operator can change a variable and the next call
sees it. Each setting has a default; a value that is set but unusable is a one-line ``ValueError``
naming the variable and what it may be.

- ``ELSEWHERE_DB``: path of the SQLite store (default ``<cache>/elsewhere/leaderboard.sqlite``,
  where ``<cache>`` is ``$XDG_CACHE_HOME`` if it is an absolute path, else ``~/.cache``).
- ``ELSEWHERE_RATE_LIMIT``: submissions allowed per submitter in any 24 hours (default 20).
- ``ELSEWHERE_MAX_UPLOAD_MB``: largest predictions upload in MiB (default 50).
- ``ELSEWHERE_OPERATOR_KEY``: the operator's key (at least 16 characters, no default), needed for
  operator actions on a store: verified entries and evaluation rounds. The first key used on a
  store claims it; the store keeps only the key's SHA-256.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from elsewhere.errors import ElsewhereError

DEFAULT_RATE_LIMIT_PER_DAY = 20
DEFAULT_MAX_UPLOAD_MB = 50
MIN_OPERATOR_KEY = 16
_MIB = 1024 * 1024


def database_path() -> Path:
    """Where the leaderboard's SQLite file lives (``ELSEWHERE_DB`` or the user's cache folder)."""
    value = os.environ.get("ELSEWHERE_DB")
    if value is not None:
        if not value.strip():
            raise ElsewhereError("ELSEWHERE_DB is set but empty; set it to a file path or unset it")
        path = Path(value).expanduser()
        if path.is_dir():
            raise ElsewhereError(
                f"ELSEWHERE_DB={value!r} is a folder; it must name a file, e.g. {path / 'leaderboard.sqlite'}"
            )
        return path
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    cache = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return root / "elsewhere" / "leaderboard.sqlite"


def rate_limit_per_day() -> int:
    """Submissions one submitter may make in any 24 hours (``ELSEWHERE_RATE_LIMIT``, default 20)."""
    value = os.environ.get("ELSEWHERE_RATE_LIMIT")
    if value is None:
        return DEFAULT_RATE_LIMIT_PER_DAY
    try:
        limit = int(value.strip())
    except ValueError:
        limit = 0
    if limit < 1:
        raise ElsewhereError(
            f"ELSEWHERE_RATE_LIMIT={value!r} is not allowed; use a whole number of submissions per day, at least 1"
        )
    return limit


def max_upload_bytes() -> int:
    """The largest predictions upload accepted, in bytes (``ELSEWHERE_MAX_UPLOAD_MB`` MiB, default 50)."""
    value = os.environ.get("ELSEWHERE_MAX_UPLOAD_MB")
    if value is None:
        return DEFAULT_MAX_UPLOAD_MB * _MIB
    try:
        megabytes = float(value.strip())
    except ValueError:
        megabytes = math.nan
    size = int(megabytes * _MIB) if math.isfinite(megabytes) else 0
    if size < 1:
        raise ElsewhereError(
            f"ELSEWHERE_MAX_UPLOAD_MB={value!r} is not allowed; use a positive number of MiB, e.g. 50 or 0.5"
        )
    return size


def operator_key() -> str:
    """The operator's key (``ELSEWHERE_OPERATOR_KEY``); refused when unset or shorter than 16 characters."""
    value = os.environ.get("ELSEWHERE_OPERATOR_KEY", "").strip()
    if len(value) < MIN_OPERATOR_KEY:
        raise ElsewhereError(
            f"this is an operator action and ELSEWHERE_OPERATOR_KEY is {'unset' if not value else 'too short'}; "
            f"set it to the store's operator key (at least {MIN_OPERATOR_KEY} characters)"
        )
    return value
