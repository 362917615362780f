"""The submission pipeline: a predictions file in, a scored and stored entry out.

A submission is checked cheaply first (text fields, link, the file's size — from ``stat``, before a
byte is read), then read and validated against the :class:`~evaluation.truth.Truth` that the
leaderboard holds, scored by the evaluation harness, and stored in one transaction. The leaderboard
never trusts a submitted score: the results stored are the ones computed here. Every failure is
one-line ``ValueError`` (a :class:`~evaluation.predictions.PredictionsError`,
:class:`~leaderboard.store.DuplicateSubmission`, :class:`~leaderboard.store.RateLimited`, ...)
and leaves the store untouched. Uploads are parsed as data, never executed.

:class:`Truths` holds the labels the leaderboard scores against: those of the public dataset
folder (or Hub repo) given as ``--data``, or, for the private variant, the operator's separate
labels file. Each protocol's truth is loaded on first use and kept.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.data import check_labels, load_truth, manifest_of, read_labels
from elsewhere.evaluation.predictions import read_predictions
from elsewhere.evaluation.scoring import score_predictions
from elsewhere.evaluation.truth import Truth
from elsewhere.leaderboard import rounds, settings
from elsewhere.leaderboard.hub_sync import export_accepted
from elsewhere.leaderboard.store import MAX_TEXT, Store, Submission, clean_text
from elsewhere.splits.sampling import PARTS

FAMILIES = ("mlp", "cnn", "resnet", "vit", "other")
MAX_NOTES = 2000
MAX_FAMILY = 50
LINK_SCHEMES = ("http", "https")


class _Setting:
    """The default of a keyword that is read from :mod:`leaderboard.settings` when the function runs."""

    def __repr__(self) -> str:
        return "<from settings>"


SETTING = _Setting()


class Truths:
    """The truth of every protocol of one dataset, loaded lazily, once, and shared by threads.

    ``data`` is a dataset folder or a Hub repo id. A private variant (labels withheld) needs
    ``labels``, the labels file written by ``elsewhere generate --private --labels FILE``; a
    public one must not have it. Submissions are scored, and stored, as ``self.variant``.
    """

    def __init__(self, data: str | Path, labels: str | Path | None = None) -> None:
        manifest = manifest_of(data)
        self.data = data
        self.variant: str = manifest.get("variant", "public")
        self.labels = Path(labels).expanduser() if labels is not None else None
        if self.variant == "private" and self.labels is None:
            raise ElsewhereError(
                f"{data} is the private variant (labels withheld); give the leaderboard its labels file "
                "(the one written when its data was generated)"
            )
        if self.variant != "private" and self.labels is not None:
            raise ElsewhereError(
                f"{data} is the public variant and carries its own labels; a labels file is only for "
                "a private variant's data"
            )
        if self.labels is not None and not self.labels.is_file():
            raise ElsewhereError(
                f"labels file {str(self.labels)!r} does not exist; give the file written by the private generation"
            )
        if self.labels is not None:
            # At once, not at the first submission: a board must not start on another dataset's labels.
            check_labels(data, manifest, read_labels(self.labels)[1], self.labels)
        self.protocols: tuple[str, ...] = tuple(manifest["protocols"])
        self._cache: dict[str, Truth] = {}
        self._shown: dict[str, np.ndarray] = {}
        self._locks = {name: threading.Lock() for name in self.protocols}

    def __repr__(self) -> str:
        return f"Truths({str(self.data)!r}, variant={self.variant!r})"

    def get(self, protocol: str) -> Truth:
        """The truth of ``protocol``, loaded on first use (one load per protocol, even under threads)."""
        lock = self._locks.get(protocol)
        if lock is None:
            raise ElsewhereError(
                f"protocol {protocol!r} is not on this leaderboard; choose one of {', '.join(self.protocols)}"
            )
        truth = self._cache.get(protocol)
        if truth is None:
            with lock:
                truth = self._cache.get(protocol)
                if truth is None:
                    truth = load_truth(self.data, protocol, self.labels)
                    if self.labels is not None:
                        frame, _ = read_labels(self.labels)
                        part = truth.frame["id"].map(frame.set_index("id")["part"])
                        self._shown[protocol] = (part == PARTS[0]).to_numpy()
                    self._cache[protocol] = truth
        return truth

    def shown(self, protocol: str) -> np.ndarray:
        """Mask over ``get(protocol).frame``: the items a round scores while open (private variant only)."""
        self.get(protocol)
        if protocol not in self._shown:
            raise ElsewhereError(f"{self.data} is the public variant; only a private variant has shown and final parts")
        return self._shown[protocol]


def submit(
    store: Store,
    truths: Truths,
    *,
    protocol: str,
    predictions_path: str | Path,
    model_name: str,
    submitter: str,
    identity: str,
    link: str | None = None,
    notes: str | None = None,
    parameters: int | None = None,
    family: str = "other",
    variant: str = "public",
    verified: bool = False,
    max_bytes: int | _Setting = SETTING,
    rate_limit_per_day: int | None | _Setting = SETTING,
) -> Submission:
    """Validate, score and store one predictions file; return the stored entry.

    Args:
        submitter: the name shown on the board (display only: anyone may type any name).
        identity: who submits, as the caller established it and the submitter cannot rename: a
            Hugging Face login (``"hf:<user>"``), an ``--auth`` user (``"auth:<user>"``), else the
            client address (``"ip:<address>"``). The rate limit counts per identity.
        variant: must be the variant of ``truths`` (a leaderboard scores one variant).
        verified: True only for entries the operator ran (baselines); the app always passes False.
        max_bytes: the largest file accepted; omitted, the ``ELSEWHERE_MAX_UPLOAD_MB`` setting.
        rate_limit_per_day: submissions ``identity`` may make in any 24 hours; omitted, the
            ``ELSEWHERE_RATE_LIMIT`` setting; None for no limit (the operator's own entries).

    Raises:
        ValueError: one line saying what was wrong and what is allowed; nothing is stored.
    """
    if isinstance(max_bytes, _Setting):
        max_bytes = settings.max_upload_bytes()
    if isinstance(rate_limit_per_day, _Setting):
        rate_limit_per_day = settings.rate_limit_per_day()
    model = model_metadata(link=link, notes=notes, parameters=parameters, family=family, verified=verified)
    model_name = _required_text("model name", model_name)
    submitter = _required_text("submitter", submitter)
    if variant != truths.variant:
        raise ElsewhereError(
            f"variant {variant!r} cannot be scored here: this leaderboard holds the {truths.variant} "
            f"variant of {truths.data}; submit as {truths.variant!r}"
        )
    path = Path(predictions_path)
    check_size(path, max_bytes)
    truth = truths.get(protocol)
    record = rounds.round_for(store, truth) if truths.variant == "private" else None
    predictions = read_predictions(path, truth, max_bytes=max_bytes)
    described = {"name": model_name, **model}
    if record is None:
        results = score_predictions(truth, predictions, model=described, source=f"predictions:{path.name}")
        round_entry = None
    else:
        # A hidden set is scored on its shown part only; the final part waits, sealed, for the round's end.
        results = rounds.shown_results(
            truth,
            truths.shown(protocol),
            predictions,
            model=described,
            source=f"predictions:{path.name}",
            record=record,
        )
        round_entry = (record["id"], rounds.seal(truth, predictions))
    entry = store.add(
        submitter=submitter,
        model_name=model_name,
        model=model,
        protocol=truth.protocol,
        protocol_version=truth.version,
        variant=variant,
        fingerprint=truth.fingerprint,
        predictions_sha256=results["predictions_sha256"],
        results=results,
        identity=identity,
        rate_limit_per_day=rate_limit_per_day,
        round_entry=round_entry,
    )
    export_accepted(store)  # to the results dataset on the Hub, when one is configured
    return entry


def remaining_quota(store: Store, identity: str) -> tuple[int, int]:
    """``(used, limit)``: submissions ``identity`` made in the last 24 hours, and the ``ELSEWHERE_RATE_LIMIT``."""
    return store.used(identity), settings.rate_limit_per_day()


def submit_file(
    *,
    data: str | Path,
    predictions: str | Path,
    protocol: str,
    model_name: str,
    db: str | Path | None = None,
    labels: str | Path | None = None,
    submitter: str | None = None,
    link: str | None = None,
    notes: str | None = None,
    parameters: int | None = None,
    family: str = "other",
    verified: bool = False,
) -> Submission:
    """``elsewhere submit``: score ``predictions`` against ``data`` and store it in ``db``.

    ``db`` defaults to the ``ELSEWHERE_DB`` setting; ``submitter`` to the operating-system user.
    Whoever can write the store file runs the board, so no rate limit applies; a ``verified``
    entry still needs the store's operator key (``ELSEWHERE_OPERATOR_KEY``).
    """
    store = Store(db if db is not None else settings.database_path())
    if verified:
        store.check_operator(settings.operator_key())
    truths = Truths(data, labels)
    return submit(
        store,
        truths,
        protocol=protocol,
        predictions_path=predictions,
        model_name=model_name,
        submitter=submitter if submitter is not None else getpass.getuser(),
        identity=f"cli:{getpass.getuser()}",
        link=link,
        notes=notes,
        parameters=parameters,
        family=family,
        variant=truths.variant,
        verified=verified,
        rate_limit_per_day=None,
    )


def check_size(path: Path, max_bytes: int) -> None:
    """Refuse a missing file or one over ``max_bytes``, reading only its size."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ElsewhereError(
            f"cannot read predictions file {path.name!r}: {error.strerror or error}; "
            "upload a CSV, Parquet or JSON lines file"
        ) from None
    if size > max_bytes:
        raise ElsewhereError(
            f"predictions file {path.name!r} is {size:,} bytes, over the upload limit of {max_bytes:,}; "
            "drop the probabilities column or use Parquet"
        )
    if size == 0:
        raise ElsewhereError(f"predictions file {path.name!r} is empty; it needs a row per evaluated item")


def model_metadata(*, link: str | None, notes: str | None, parameters: int | None, family: str, verified: bool) -> dict:
    """The model metadata a submission stores, each field checked (one-line ValueError)."""
    link = (link or "").strip() or None
    if link is not None:
        parts = urlsplit(link)
        # Only web links: a javascript: or data: link would run in visitors' browsers.
        if parts.scheme not in LINK_SCHEMES or not parts.netloc or any(c.isspace() for c in link):
            raise ElsewhereError(
                f"link {link[:80]!r} is not a web address; give an http:// or https:// URL or leave it empty"
            )
        if len(link) > MAX_TEXT:
            raise ElsewhereError(f"link is {len(link)} characters long; at most {MAX_TEXT} are allowed")
    notes = clean_text("notes", (notes or "").strip(), allowed="\n\t")
    if len(notes) > MAX_NOTES:
        raise ElsewhereError(f"notes are {len(notes)} characters long; at most {MAX_NOTES} are allowed")
    if parameters is not None:
        if isinstance(parameters, float) and parameters.is_integer():
            parameters = int(parameters)
        if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 0:
            raise ElsewhereError(f"parameters must be a whole number of at least 0 (or empty), got {parameters!r}")
    family = _required_text("model family", family, limit=MAX_FAMILY).lower()
    if not isinstance(verified, bool):
        raise ElsewhereError(f"verified must be True or False, got {verified!r}")
    return {"link": link, "parameters": parameters, "family": family, "training_data": notes, "verified": verified}


def _required_text(name: str, value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ElsewhereError(f"{name} is empty; give a {name} of 1 to {limit} characters")
    value = clean_text(name, " ".join(value.split()))
    if len(value) > limit:
        raise ElsewhereError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
    return value
