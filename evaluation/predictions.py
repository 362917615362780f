"""The predictions file: reading it, checking it against the :class:`~evaluation.truth.Truth`, writing it.

A predictions file is CSV (``.csv``), Parquet (``.parquet``) or JSON lines (``.jsonl``, or
``.json`` holding one JSON object per line), with one record per evaluated item:

- ``id``: the item's id, exactly as in the dataset; every evaluated id exactly once, no others;
- ``prediction``: the predicted class, as its index (``0 .. classes − 1``) or its name. A number
  must be a whole number; a string is a class name, or else a whole numeral read as an index (in
  CSV a column that mixes names and numbers is all text);
- ``probabilities`` (optional): one probability per class of the protocol, each in ``[0, 1]``,
  summing to 1 within :data:`PROBABILITY_SUM_TOLERANCE` (softmax outputs, not logits). In CSV
  the cell holds a JSON list, e.g. ``"[0.9, 0.1]"``. They are checked and kept, not scored; the
  prediction need not be their argmax.

No other columns are allowed (so a misspelt ``probabilities`` is not silently dropped). Every
failure raises :class:`PredictionsError` with one line: what was wrong, the first offending rows
(record numbers from 1, not counting a CSV header or blank lines) and how many there were, and
what is allowed.

:func:`read_predictions` returns a frame aligned to the truth's rows: ``id`` (str), ``prediction``
(int64) and, if given, ``probabilities``: an object column whose cells are the rows of one
float32 ``(items, classes)`` array (the form ``pandas.read_parquet`` gives list columns);
:func:`probability_matrix` returns that array. Files are parsed with pyarrow, so a million rows
read in seconds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.truth import Truth, canonical_order, id_array, id_lines
from elsewhere.files import atomic_path

MAX_PREDICTION_BYTES = 256 * 2**20
PROBABILITY_SUM_TOLERANCE = 1e-3
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
REQUIRED_COLUMNS = ("id", "prediction")
OPTIONAL_COLUMNS = ("probabilities",)
# A Parquet file compresses repetitive rows very well; refuse to expand one with far more rows than
# there are items before reading it.
_ROW_SLACK = 2
_SHOWN = 5
_SHOWN_CLASSES = 10
_SHOWN_CHARS = 60
_WHOLE_NUMERAL = r"\s*[+-]?\d+\s*"
# Characters that an id cannot hold as-is inside a JSON string.
_JSON_ESCAPED = r'["\\\x00-\x1f]'
_HASH_HEADER = b"elsewhere predictions v1\n"


class PredictionsError(ElsewhereError):
    """A predictions file that cannot be scored; the message is one line a submitter can act on."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _first(rows: np.ndarray, ids: pa.Array | None = None) -> str:
    """``row 3 (id 'a'), row 9 (id 'b')`` for the first offending rows (0-based positions in)."""
    shown = rows[:_SHOWN]
    names = ids.take(pa.array(shown)).to_pylist() if ids is not None else [None] * len(shown)
    parts = [f"row {int(r) + 1}" + (f" (id {_show(i)})" if ids is not None else "") for r, i in zip(shown, names)]
    return ", ".join(parts) + (", ..." if len(rows) > _SHOWN else "")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def read_predictions(path: str | Path, truth: Truth, max_bytes: int = MAX_PREDICTION_BYTES) -> pd.DataFrame:
    """Read a predictions file, check it against ``truth`` and align it to ``truth.frame``'s rows.

    Raises:
        PredictionsError: for any problem with the file (see the module docstring).
    """
    path = Path(path)
    name = _show(path.name)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PredictionsError(
            f"predictions file {name} has suffix {path.suffix or '(none)'!r}; "
            f"allowed are {', '.join(SUFFIXES)} (CSV, Parquet, JSON lines)"
        )
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PredictionsError(f"cannot read predictions file {name}: {error.strerror or error}") from None
    if not path.is_file():
        raise PredictionsError(f"predictions file {name} is not a file; give a {kind} file")
    if size > max_bytes:
        raise PredictionsError(
            f"predictions file {name} is {size:,} bytes, over the limit of {max_bytes:,}; "
            "drop extra columns or probabilities, or use Parquet"
        )
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[kind]
    return _checked(reader(path, name, len(truth.frame)), truth, name)


def _read_csv(path: Path, name: str, expected: int) -> dict[str, Any]:
    convert = pa_csv.ConvertOptions(
        column_types={"id": pa.string(), "probabilities": pa.string()},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pa_csv.read_csv(path, convert_options=convert)
    except (pa.ArrowException, OSError) as error:
        raise PredictionsError(
            f"cannot read CSV predictions file {name}: {_one_line(error)}; give a UTF-8 CSV with a header row"
        ) from None
    _check_columns(table.column_names, name)
    columns = {"id": table.column("id").combine_chunks(), "prediction": table.column("prediction")}
    if "probabilities" in table.column_names:
        columns["probabilities"] = _parse_list_cells(table.column("probabilities").combine_chunks(), name)
    return columns


def _parse_list_cells(cells: pa.Array, name: str) -> pa.Array:
    """CSV cells holding JSON lists of numbers, parsed into a list<float64> array (null stays null)."""
    text = pc.utf8_trim_whitespace(cells)
    framed = pc.and_kleene(pc.starts_with(text, "["), pc.ends_with(text, "]")).fill_null(True)
    inner = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(text, 1, -1))
    parts = pc.split_pattern(inner, ",")
    counts = pc.list_value_length(parts).fill_null(0).to_numpy(zero_copy_only=False)
    # "[]" splits into one empty entry: drop it, so that the list has length 0.
    empty = pc.equal(pc.utf8_length(inner), 0).fill_null(False).to_numpy(zero_copy_only=False)
    entries = pc.utf8_trim_whitespace(parts.flatten()).filter(pa.array(np.repeat(~empty, counts)))
    try:
        if not pc.all(framed).as_py():
            raise pa.ArrowInvalid("a cell is not framed by brackets")
        values = pc.cast(entries, pa.float64())
    except pa.ArrowInvalid:
        bad = np.flatnonzero([cell is not None and not _is_number_list(cell) for cell in cells.to_pylist()])
        raise PredictionsError(
            f"predictions file {name}: {bad.size} probabilities cells are not JSON lists of numbers, "
            f'first {_first(bad)}; write each as a JSON list like "[0.9, 0.1]"'
        ) from None
    offsets = np.concatenate([[0], np.cumsum(np.where(empty, 0, counts))]).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=cells.is_null())


def _is_number_list(cell: str) -> bool:
    try:
        value = json.loads(cell)
    except ValueError:
        return False
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _read_parquet(path: Path, name: str, expected: int) -> dict[str, Any]:
    try:
        file = pq.ParquetFile(path)
        rows = file.metadata.num_rows
        _check_columns(file.schema_arrow.names, name)
        if rows > _ROW_SLACK * expected + 1000:
            raise PredictionsError(
                f"predictions file {name} has {rows:,} rows for {expected:,} evaluated items; give one row per item"
            )
        table = file.read()
    except PredictionsError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:
        raise PredictionsError(
            f"cannot read Parquet predictions file {name}: {_one_line(error)}; give a valid Parquet file"
        ) from None
    return {column: table.column(column).combine_chunks() for column in table.column_names}


def _read_jsonl(path: Path, name: str, expected: int) -> dict[str, Any]:
    try:
        table = pa_json.read_json(path)
    except (pa.ArrowException, OSError):
        # Mixed types in a column (names and indices), NaN, or a broken line: read it in Python,
        # which accepts the first two and finds the line for the third.
        return _read_jsonl_slowly(path, name)
    _check_columns(table.column_names, name)
    return {column: table.column(column).combine_chunks() for column in table.column_names}


def _read_jsonl_slowly(path: Path, name: str) -> dict[str, Any]:
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, OSError) as error:
        raise PredictionsError(
            f"cannot read JSON lines predictions file {name}: {_one_line(error)}; "
            "give a UTF-8 file with one JSON object per line"
        ) from None
    try:
        records = json.loads("[" + ",".join(lines) + "]")
        if len(records) != len(lines):
            raise ElsewhereError("lines run together")
    except ValueError:
        records = None
    if records is None or not all(isinstance(r, dict) for r in records):
        bad = np.array([i for i, line in enumerate(lines) if not _is_object(line)])
        raise PredictionsError(
            f"predictions file {name}: {bad.size} lines are not JSON objects, first {_first(bad)}; "
            'write one object like {"id": ..., "prediction": ...} per line'
        )
    present = set().union(*records) if records else set()
    _check_columns(sorted(present), name)
    columns: dict[str, Any] = {
        "id": pa.array(
            [r.get("id") if isinstance(r.get("id"), str) or r.get("id") is None else str(r["id"]) for r in records],
            pa.string(),
        ),
        "prediction": pd.Series([r.get("prediction") for r in records], dtype=object),
    }
    if "probabilities" in present:
        columns["probabilities"] = [r.get("probabilities") for r in records]
    return columns


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _check_columns(columns: list[str], name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or extra:
        found = ", ".join(_show(c) for c in columns) or "none"
        wrong = (
            f"lacks columns {', '.join(missing)}"
            if missing
            else f"has unexpected columns {', '.join(map(_show, extra))}"
        )
        raise PredictionsError(
            f"predictions file {name} {wrong} (found: {found}); allowed are id, prediction and optionally probabilities"
        )
    if len(set(columns)) != len(columns):
        raise PredictionsError(f"predictions file {name} repeats a column name; give each column once")


def _checked(columns: dict[str, Any], truth: Truth, name: str) -> pd.DataFrame:
    ids = id_array(columns["id"])
    empty = np.flatnonzero(pc.fill_null(pc.equal(pc.utf8_length(ids), 0), True).to_numpy(zero_copy_only=False))
    if empty.size:
        raise PredictionsError(
            f"predictions file {name}: {empty.size} rows have no id, first {_first(empty)}; "
            "every row needs the id of an evaluated item"
        )
    codes = pc.dictionary_encode(ids).indices.to_numpy()
    counts = np.bincount(codes)
    if counts.max(initial=0) > 1:
        first_seen = np.zeros(len(ids), dtype=bool)
        first_seen[np.unique(codes, return_index=True)[1]] = True
        extra = np.flatnonzero(~first_seen)
        raise PredictionsError(
            f"predictions file {name}: {int((counts > 1).sum())} ids appear more than once "
            f"({extra.size} extra rows), first {_first(extra, ids)}; give each id exactly once"
        )
    truth_ids = id_array(truth.frame["id"])
    position = pc.index_in(ids, value_set=truth_ids).fill_null(-1).to_numpy(zero_copy_only=False)
    unknown = np.flatnonzero(position < 0)
    if unknown.size:
        raise PredictionsError(
            f"predictions file {name}: {unknown.size} ids are not evaluated items of "
            f"{truth.protocol} v{truth.version}, first {_first(unknown, ids)}; give only ids of "
            f"the splits {', '.join(truth.splits)}"
        )
    order = np.full(len(truth_ids), -1, dtype=np.int64)
    order[position] = np.arange(len(ids))
    absent = np.flatnonzero(order < 0)
    if absent.size:
        shown = ", ".join(_show(i) for i in truth_ids.take(pa.array(absent[:_SHOWN])).to_pylist())
        raise PredictionsError(
            f"predictions file {name}: {absent.size} of {len(truth_ids):,} evaluated ids are missing, "
            f"first {shown}{', ...' if absent.size > _SHOWN else ''}; give a prediction for every "
            f"item of {', '.join(truth.splits)}"
        )
    prediction = _class_indices(columns["prediction"], ids, truth, name)
    frame = pd.DataFrame({"id": truth.frame["id"].copy(), "prediction": prediction[order]})
    if "probabilities" in columns:
        frame["probabilities"] = _rows(_probabilities(columns["probabilities"], ids, truth, name)[order])
    return frame


def _class_indices(raw: Any, ids: pa.Array, truth: Truth, name: str) -> np.ndarray:
    values = raw if isinstance(raw, pd.Series) else raw.to_pandas()
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values.dtype):
        out = np.full(len(values), -1, dtype=np.int64)
    elif pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans:
        out = values.to_numpy(dtype=np.int64)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        out = _whole(values.to_numpy(dtype=np.float64, na_value=np.nan))
    else:
        out = _mixed_indices(values.to_numpy(dtype=object), truth)
    bad = np.flatnonzero((out < 0) | (out >= len(truth.class_names)))
    if bad.size:
        shown = ", ".join(
            f"{_first(bad[i : i + 1], ids)}: {_show(values.iloc[bad[i]])}" for i in range(min(bad.size, _SHOWN))
        )
        names = ", ".join(_show(n) for n in truth.class_names[:_SHOWN_CLASSES])
        raise PredictionsError(
            f"predictions file {name}: {bad.size} predictions are not classes of {truth.protocol}, "
            f"first {shown}{', ...' if bad.size > _SHOWN else ''}; a prediction is an index "
            f"0..{len(truth.class_names) - 1} or a class name ({names}"
            f"{', ...' if len(truth.class_names) > _SHOWN_CLASSES else ''})"
        )
    return out


def _whole(values: np.ndarray) -> np.ndarray:
    ok = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    return np.where(ok, values, -1).astype(np.int64)


def _mixed_indices(values: np.ndarray, truth: Truth) -> np.ndarray:
    """Class names, numerals and numbers mixed in one object column (JSON lines, CSV text)."""
    by_name = {n: i for i, n in enumerate(truth.class_names)}
    kinds = pd.Series(values).map(type).to_numpy()
    out = np.full(len(values), -1, dtype=np.int64)
    text = kinds == str
    if text.any():
        strings = pd.Series(values[text], dtype=object)
        named = strings.map(by_name)
        numeral = named.isna() & strings.str.fullmatch(_WHOLE_NUMERAL)
        index = np.array(named.to_numpy(dtype=np.float64, na_value=np.nan))
        index[numeral.to_numpy()] = pd.to_numeric(strings[numeral].str.strip(), errors="coerce")
        out[text] = _whole(index)
    integer = (kinds == int) | np.array([issubclass(k, np.integer) for k in kinds], dtype=bool)
    if integer.any():
        out[integer] = [int(v) if -(2**62) < v < 2**62 else -1 for v in values[integer]]
    real = (kinds == float) | np.array([issubclass(k, np.floating) for k in kinds], dtype=bool)
    if real.any():
        out[real] = _whole(values[real].astype(np.float64))
    return out


def _probabilities(raw: Any, ids: pa.Array, truth: Truth, name: str) -> np.ndarray:
    classes = len(truth.class_names)
    if isinstance(raw, pa.Array):
        lengths, values, missing = _arrow_lists(raw, name)
    else:
        missing = np.array([not isinstance(v, list) for v in raw], dtype=bool)
        lengths = np.array([0 if m else len(v) for v, m in zip(raw, missing)], dtype=np.int64)
        values = None
    absent = np.flatnonzero(missing)
    if absent.size:
        raise PredictionsError(
            f"predictions file {name}: {absent.size} rows lack a probabilities list, first "
            f"{_first(absent, ids)}; give a list of {classes} probabilities in every row or drop the column"
        )
    wrong = np.flatnonzero(lengths != classes)
    if wrong.size:
        raise PredictionsError(
            f"predictions file {name}: {wrong.size} probabilities lists do not have {classes} entries "
            f"(first has {int(lengths[wrong[0]])}), first {_first(wrong, ids)}; give one probability per class"
        )
    if values is None:
        bad = np.flatnonzero(
            [not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row) for row in raw]
        )
        if bad.size:
            raise PredictionsError(
                f"predictions file {name}: {bad.size} probabilities lists hold non-numbers, first "
                f"{_first(bad, ids)}; give finite numbers in [0, 1]"
            )
        values = np.array(raw, dtype=np.float64)
    matrix = values.reshape(len(ids), classes)
    not_finite = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if not_finite.size:
        raise PredictionsError(
            f"predictions file {name}: {not_finite.size} probabilities lists hold NaN or infinite values, "
            f"first {_first(not_finite, ids)}; give finite numbers in [0, 1]"
        )
    outside = np.flatnonzero(((matrix < 0) | (matrix > 1)).any(axis=1))
    if outside.size:
        raise PredictionsError(
            f"predictions file {name}: {outside.size} probabilities lists hold values outside [0, 1], "
            f"first {_first(outside, ids)}; give probabilities (softmax outputs), not logits"
        )
    off = np.flatnonzero(np.abs(matrix.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE)
    if off.size:
        raise PredictionsError(
            f"predictions file {name}: {off.size} probabilities lists do not sum to 1 (first sums to "
            f"{matrix[off[0]].sum():.6g}), first {_first(off, ids)}; they must sum to 1 within "
            f"{PROBABILITY_SUM_TOLERANCE:g}"
        )
    return matrix.astype(np.float32)


def _arrow_lists(array: pa.Array, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row lengths, flat float64 values and missing-row mask of a list column."""
    kind = array.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise PredictionsError(
            f"predictions file {name}: column probabilities has type {kind}; give a list of floats per row"
        )
    if not (
        pa.types.is_floating(kind.value_type)
        or pa.types.is_integer(kind.value_type)
        or pa.types.is_null(kind.value_type)
    ):
        raise PredictionsError(f"predictions file {name}: probabilities hold {kind.value_type} values; give floats")
    missing = array.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.cast(array.flatten(), pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
    return lengths, values, missing


def _rows(matrix: np.ndarray) -> np.ndarray:
    """An object array whose cells are the rows of ``matrix`` (views, no copies)."""
    out = np.empty(len(matrix), dtype=object)
    out[:] = list(matrix)
    return out


def probability_matrix(frame: pd.DataFrame) -> np.ndarray | None:
    """The ``(items, classes)`` float32 probabilities of a predictions frame, or None if it has none."""
    if "probabilities" not in frame.columns:
        return None
    cells = frame["probabilities"].to_numpy(dtype=object)
    if len(cells) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(cells).astype(np.float32, copy=False)


def make_predictions(ids: Any, prediction: Any, probabilities: np.ndarray | None = None) -> pd.DataFrame:
    """A predictions frame as :func:`read_predictions` returns it, from arrays (e.g. a model's outputs)."""
    frame = pd.DataFrame(
        {
            "id": pd.Series(np.asarray(ids, dtype=object), dtype=str),
            "prediction": np.asarray(prediction, dtype=np.int64),
        }
    )
    if probabilities is not None:
        matrix = np.asarray(probabilities, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(frame):
            raise ElsewhereError(f"probabilities must be (items, classes) with {len(frame)} items; got {matrix.shape}")
        frame["probabilities"] = _rows(matrix)
    return frame


def write_predictions(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a predictions frame as CSV, Parquet or JSON lines (by the suffix), atomically.

    Probabilities are written as float32 values in their shortest exact decimal form, so every
    format reads back to the same frame and the same :func:`predictions_sha256`.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ElsewhereError(f"cannot write predictions to {path.name}; allowed suffixes are {', '.join(SUFFIXES)}")
    ids = id_array(frame["id"].astype(str))
    prediction = pa.array(frame["prediction"].to_numpy(dtype=np.int64))
    matrix = probability_matrix(frame)
    with atomic_path(path) as temporary:
        if kind == "parquet":
            arrays = {"id": ids, "prediction": prediction}
            if matrix is not None:
                arrays["probabilities"] = _list_array(pa.array(matrix.ravel()), matrix.shape)
            pq.write_table(pa.table(arrays), temporary)
        elif kind == "csv":
            arrays = {"id": ids, "prediction": prediction}
            if matrix is not None:
                arrays["probabilities"] = _list_cells(matrix)
            pa_csv.write_csv(pa.table(arrays), temporary)
        else:
            _write_jsonl(ids, prediction, matrix, temporary)


def _list_array(values: pa.Array, shape: tuple[int, int]) -> pa.Array:
    offsets = pa.array(np.arange(0, shape[0] * shape[1] + 1, shape[1], dtype=np.int64))
    return pa.LargeListArray.from_arrays(offsets, values)


def _list_cells(matrix: np.ndarray) -> pa.Array:
    """Each row of ``matrix`` as the text of a JSON list, formatted in C++ by pyarrow."""
    numbers = pc.cast(pa.array(matrix.ravel()), pa.string())
    joined = pc.binary_join(_list_array(numbers, matrix.shape), ", ")
    return pc.binary_join_element_wise("[", joined, "]", "")


def _write_jsonl(ids: pa.Array, prediction: pa.Array, matrix: np.ndarray | None, path: Path) -> None:
    if pc.any(pc.match_substring_regex(ids, _JSON_ESCAPED)).as_py():
        quoted = pa.array([json.dumps(i) for i in ids.to_pylist()], pa.string())
    else:
        quoted = pc.binary_join_element_wise('"', ids, '"', "")
    parts = ['{"id": ', quoted, ', "prediction": ', pc.cast(prediction, pa.string())]
    if matrix is not None:
        parts += [', "probabilities": ', _list_cells(matrix)]
    lines = pc.binary_join_element_wise(*parts, "}", "").to_pylist()
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def predictions_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical form of the predictions, the same whichever file format they came in.

    The form: a header line, then the ids sorted (by code point) each followed by a newline, then
    the predictions in that order as little-endian int64, then, if present, a line naming the
    number of classes and the probabilities as little-endian float32, row-major.
    """
    ids = id_array(frame["id"].astype(str))
    order = canonical_order(ids)
    digest = hashlib.sha256(_HASH_HEADER)
    digest.update(id_lines(ids.take(order)))
    digest.update(frame["prediction"].to_numpy(dtype="<i8")[order].tobytes())
    matrix = probability_matrix(frame)
    if matrix is not None:
        digest.update(f"probabilities {matrix.shape[1]}\n".encode())
        digest.update(np.ascontiguousarray(matrix[order], dtype="<f4").tobytes())
    return digest.hexdigest()
