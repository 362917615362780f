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

Files come from strangers, so reading is bounded: any file up to the leaderboard's 50 MiB upload
cap is parsed in under :data:`MEMORY_BOUND_BYTES` (1 GiB) of peak memory, against a truth of up
to 50,000 items (the largest protocol has 32,800; ``tests/evaluation/test_upload_bombs.py``
measures it on hostile files, in a child process). Before a parser sees a file, what a valid file for this truth could hold is derived
(rows, line length, cell widths, probability entries: :class:`_Limits`) and checked cheaply:

- CSV and JSON lines: compressed, archived, Parquet or binary content is refused by its bytes;
  lines are counted and measured; JSON nesting depth and fields per line are counted by a byte
  scan that tracks strings (pyarrow's JSON reader crashes on deep nesting), and the fast JSON
  parse takes only the allowed fields with fixed types, so no column is ever inferred.
- Parquet: rows, row groups and column types from the footer; sizes and value counts from every
  page header (:mod:`~evaluation.parquet_pages`: a footer can be forged); string columns are read
  as dictionaries and their widths checked before they are decoded, unless every page is PLAIN
  (then the values are no larger than the pages already checked, and their widths are checked as
  read, before any copy).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
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
from elsewhere.evaluation.parquet_pages import chunk_pages
from elsewhere.evaluation.truth import Truth, canonical_order, id_array, id_lines
from elsewhere.files import atomic_path

MAX_PREDICTION_BYTES = 256 * 2**20
MEMORY_BOUND_BYTES = 2**30
PROBABILITY_SUM_TOLERANCE = 1e-3
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
REQUIRED_COLUMNS = ("id", "prediction")
OPTIONAL_COLUMNS = ("probabilities",)
MAX_PROBABILITY_VALUES = 2**24
# A file may hold up to this many rows (+ 1000) per evaluated item before it is refused unread:
# duplicates and unknown ids are reported, not a file that expands without end.
_ROW_SLACK = 2
_LINE_SLACK_BYTES = 1024
_NUMERAL_CHARS = 24
_CELL_SLACK_CHARS = 64
_MAX_JSON_DEPTH = 8
_MAX_ROW_GROUPS = 10_000
_MAX_PARQUET_UNCOMPRESSED_BYTES = 256 * 2**20
_PARQUET_SLACK_BYTES = 2**20
_PARQUET_THRIFT_BYTES = 16 * 2**20
_PARQUET_THRIFT_ITEMS = 100_000
# Rows per batch of a Parquet read. A batch of a column read as a dictionary carries every value
# the dictionary has gathered so far, so small batches copy a growing dictionary over and over; a
# file within the row limit of a truth of up to 50,000 items is one batch.
_PARQUET_BATCH_ROWS = 2**20
_SCAN_BLOCK_BYTES = 2**20
_NEWLINE, _QUOTE, _COLON = ord("\n"), ord('"'), ord(":")
_JSON_STEP = np.zeros(256, dtype=np.int8)
_JSON_STEP[list(b"[{")] = 1
_JSON_STEP[list(b"]}")] = -1
# Brackets that open count in the low 32 bits, colons in the high: one running sum counts both.
_BLIND_WEIGHT = np.zeros(256, dtype=np.int64)
_BLIND_WEIGHT[list(b"[{")] = 1
_BLIND_WEIGHT[ord(":")] = 2**32
_NOT_JSON_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}:\n')))
# Content that is not text, recognised by its first bytes, and named in the refusal.
_FOREIGN_CONTENT = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"PAR1", "a Parquet file (name it .parquet)"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data"),
    (b"ARROW1", "an Arrow file"),
)
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


@dataclass(frozen=True)
class _Limits:
    """What a valid predictions file for one truth can hold; anything beyond is refused unparsed."""

    items: int
    rows: int
    line_bytes: int
    id_chars: int
    prediction_chars: int
    classes: int
    probability_values: int
    parquet_bytes: int


def _limits(truth: Truth) -> _Limits:
    items = len(truth.frame)
    rows = _ROW_SLACK * items + 1000
    ids = id_array(truth.frame["id"])
    id_chars = int(pc.max(pc.utf8_length(ids)).as_py() or 0) if items else 0
    name_chars = max([len(n) for n in truth.class_names] + [_NUMERAL_CHARS])
    classes = len(truth.class_names)
    return _Limits(
        items=items,
        rows=rows,
        # A JSON escape takes up to 6 bytes for one character; a probability needs under 32 bytes.
        line_bytes=_LINE_SLACK_BYTES + 6 * (id_chars + name_chars) + 32 * classes,
        id_chars=id_chars + _CELL_SLACK_CHARS,
        prediction_chars=name_chars + _CELL_SLACK_CHARS,
        classes=classes,
        probability_values=min(MAX_PROBABILITY_VALUES, rows * classes),
        # Plain-encoded pages: up to 4 bytes a character plus a 4-byte length per string, 8 bytes
        # and two levels per probability.
        parquet_bytes=min(
            _MAX_PARQUET_UNCOMPRESSED_BYTES,
            _PARQUET_SLACK_BYTES + rows * (4 * (id_chars + name_chars + 2 * _CELL_SLACK_CHARS) + 8 + 10 * classes),
        ),
    )


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
    limits = _limits(truth)
    try:
        if kind == "parquet":
            columns = _read_parquet(path, name, limits)
        else:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise PredictionsError(f"cannot read predictions file {name}: {error.strerror or error}") from None
            line_ends = _checked_text(data, name, kind, limits)
            columns = (_read_csv if kind == "csv" else _read_jsonl)(data, line_ends, name, limits)
        return _checked(columns, truth, name)
    finally:
        # Hand the parse's buffers back to the system, so a refused upload leaves no memory held.
        pa.default_memory_pool().release_unused()


def _checked_text(data: bytes, name: str, kind: str, limits: _Limits) -> np.ndarray:
    """Refuse a CSV or JSON lines file by content, line count or line length, before any parser sees it.

    Returns the positions of its line breaks.
    """
    label = {"csv": "CSV", "jsonl": "JSON lines"}[kind]
    for magic, what in _FOREIGN_CONTENT:
        if data.startswith(magic):
            raise PredictionsError(
                f"cannot read predictions file {name}: it holds {what}, not {label} text; "
                f"upload the {label} file itself"
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise PredictionsError(
            f"cannot read predictions file {name}: it holds binary data (a NUL byte at offset {nul:,}), "
            f"not {label} text; give a UTF-8 {label} file"
        )
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    allowed = limits.rows + (1 if kind == "csv" else 0)
    if lines > allowed:
        raise PredictionsError(
            f"predictions file {name} has {lines:,} lines for {limits.items:,} evaluated items; give one line per item"
        )
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
    lengths = np.diff(ends, prepend=-1) - 1
    if not data.endswith(b"\n"):
        lengths = np.append(lengths, len(data) - (ends[-1] + 1 if ends.size else 0))
    longest = int(lengths.argmax()) if lengths.size else 0
    if lengths.size and lengths[longest] > limits.line_bytes:
        raise PredictionsError(
            f"predictions file {name}: line {longest + 1:,} is {int(lengths[longest]):,} bytes long, longer than "
            f"any valid record here can be ({limits.line_bytes:,} bytes); give one record per line"
        )
    return ends


def _read_csv(data: bytes, line_ends: np.ndarray, name: str, limits: _Limits) -> dict[str, Any]:
    convert = pa_csv.ConvertOptions(
        column_types={"id": pa.string(), "probabilities": pa.string()},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    header_end = int(line_ends[0]) + 1 if line_ends.size else len(data)
    try:
        # The header alone first: a file is refused for its columns before its body is parsed.
        header = pa_csv.read_csv(pa.BufferReader(data[:header_end])).column_names
        _check_columns(header, name)
        table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)), convert_options=convert)
    except (pa.ArrowException, OSError) as error:
        raise PredictionsError(
            f"cannot read CSV predictions file {name}: {_one_line(error)}; give a UTF-8 CSV with a header row"
        ) from None
    _check_columns(table.column_names, name)
    columns = {"id": table.column("id").combine_chunks(), "prediction": table.column("prediction")}
    if "probabilities" in table.column_names:
        columns["probabilities"] = _parse_list_cells(table.column("probabilities").combine_chunks(), name, limits)
    return columns


def _parse_list_cells(cells: pa.Array, name: str, limits: _Limits) -> pa.Array:
    """CSV cells holding JSON lists of numbers, parsed into a list<float64> array (null stays null)."""
    text = pc.utf8_trim_whitespace(cells)
    entries_at_most = pc.add(pc.count_substring(text, ","), 1).fill_null(0)
    _check_probability_values(int(pc.sum(entries_at_most).as_py() or 0), len(cells), name, limits)
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


def _check_probability_values(values: int, rows: int, name: str, limits: _Limits) -> None:
    """Refuse probabilities far beyond one per class and row before they are expanded."""
    if values > limits.probability_values:
        raise PredictionsError(
            f"predictions file {name}: its probabilities hold {values:,} entries for {rows:,} rows, more than "
            f"{limits.probability_values:,} ({limits.classes} classes per evaluated item); give one probability "
            "per class"
        )


def _is_number_list(cell: str) -> bool:
    try:
        value = json.loads(cell)
    except ValueError:
        return False
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _read_parquet(path: Path, name: str, limits: _Limits) -> dict[str, Any]:
    """Check the footer and page headers before reading; read the allowed columns in batches, strings as dictionaries.

    A dictionary-encoded string column can repeat one huge value over every row: reading it as a
    dictionary and checking the values' widths before decoding keeps that expansion from happening.
    """
    try:
        data = path.read_bytes()
        limited = {
            "thrift_string_size_limit": _PARQUET_THRIFT_BYTES,
            "thrift_container_size_limit": _PARQUET_THRIFT_ITEMS,
        }
        file = pq.ParquetFile(pa.BufferReader(data), **limited)
        schema = file.schema_arrow
        _check_columns(schema.names, name)
        plain = _check_parquet_footer(file, data, name, limits)
        # A PLAIN-encoded column's values are no wider than its pages, already checked: only the
        # others need reading as dictionaries (building one costs a hash of every value).
        strings = [
            field.name
            for field in schema
            if field.name in REQUIRED_COLUMNS and _is_text(field.type) and field.name not in plain
        ]
        if strings:
            file = pq.ParquetFile(pa.BufferReader(data), read_dictionary=strings, **limited)
        parts: dict[str, list[pa.Array]] = {column: [] for column in schema.names}
        for batch in file.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=schema.names, use_threads=False):
            for column in schema.names:
                parts[column].append(_decoded(batch.column(column), column, name, limits))
    except PredictionsError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:  # PageHeaderError is a ValueError
        raise PredictionsError(
            f"cannot read Parquet predictions file {name}: {_one_line(error)}; give a valid Parquet file"
        ) from None
    return {
        column: pa.concat_arrays(chunks) if chunks else pa.array([], _plain(schema.field(column).type))
        for column, chunks in parts.items()
    }


def _check_parquet_footer(file: pq.ParquetFile, data: bytes, name: str, limits: _Limits) -> set[str]:
    """Rows, row groups and column types from the footer; sizes and value counts from the page headers.

    Returns the columns whose pages are all PLAIN-encoded data pages.
    """
    metadata = file.metadata
    rows = metadata.num_rows
    if rows > limits.rows:
        raise PredictionsError(
            f"predictions file {name} has {rows:,} rows for {limits.items:,} evaluated items; give one row per item"
        )
    if metadata.num_row_groups > _MAX_ROW_GROUPS:
        raise PredictionsError(
            f"predictions file {name} has {metadata.num_row_groups:,} row groups, more than {_MAX_ROW_GROUPS:,}; "
            "write it with fewer, larger row groups"
        )
    schema = file.schema_arrow
    for field in schema:
        kind = field.type
        if field.name == "probabilities":
            _check_list_type(kind, name)
        elif pa.types.is_nested(kind) or not (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or _is_text(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_null(kind)
            or pa.types.is_dictionary(kind)
        ):
            raise PredictionsError(
                f"predictions file {name}: column {field.name} has type {_show(str(kind))}; "
                "give one string or number per row"
            )
    positions = {metadata.schema.column(i).path.split(".")[0]: i for i in range(metadata.num_columns)}
    values = uncompressed = 0
    plain = set(positions)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column, position in positions.items():
            pages = chunk_pages(data, row_group.column(position))
            uncompressed += pages.uncompressed_bytes
            if not pages.plain:
                plain.discard(column)
            if column == "probabilities":
                values += pages.values
            elif pages.values > row_group.num_rows:
                raise PredictionsError(
                    f"predictions file {name}: column {column} holds {pages.values:,} values in a row group of "
                    f"{row_group.num_rows:,} rows; give one value per row"
                )
    _check_probability_values(values, rows, name, limits)
    if uncompressed > limits.parquet_bytes:
        raise PredictionsError(
            f"predictions file {name}: its pages expand to {uncompressed:,} bytes, more than {limits.parquet_bytes:,}; "
            "give only id, prediction and probabilities, one row per item"
        )
    return plain


def _check_list_type(kind: pa.DataType, name: str) -> None:
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise PredictionsError(
            f"predictions file {name}: column probabilities has type {_show(str(kind))}; give a list of floats per row"
        )
    if not (
        pa.types.is_floating(kind.value_type)
        or pa.types.is_integer(kind.value_type)
        or pa.types.is_null(kind.value_type)
    ):
        raise PredictionsError(
            f"predictions file {name}: probabilities hold {_show(str(kind.value_type))} values; give floats"
        )


def _decoded(array: pa.Array, column: str, name: str, limits: _Limits) -> pa.Array:
    """A batch's column with its dictionary decoded, once its text values are known to be short enough.

    A PLAIN column's text is checked too: its pages bound its total size, not one value's, and a
    single value of tens of MB would be copied several times over before it is refused.
    """
    encoded = pa.types.is_dictionary(array.type)
    values = array.dictionary if encoded else array
    if _is_text(values.type):
        width = pc.max(pc.binary_length(values)).as_py() or 0
        # Four bytes per character: the most UTF-8 takes.
        allowed = 4 * (limits.id_chars if column == "id" else limits.prediction_chars)
        if width > allowed:
            what = "an evaluated id" if column == "id" else "a class name or index"
            raise PredictionsError(
                f"predictions file {name}: a value of column {column} is {width:,} bytes long, more than "
                f"{what} can be ({allowed:,}); give the dataset's ids and class names"
            )
    return array.dictionary_decode() if encoded else array


def _plain(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _read_jsonl(data: bytes, line_ends: np.ndarray, name: str, limits: _Limits) -> dict[str, Any]:
    _check_json_structure(data, name)
    # Each allowed field the text names, typed: any other field, or another type, fails the fast
    # parse (so no field is ever inferred), and the line-by-line reader explains what is wrong.
    present = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if f'"{c}"'.encode() in data]
    for prediction in (pa.int64(), pa.string()):
        types = {"id": pa.string(), "prediction": prediction, "probabilities": pa.list_(pa.float64())}
        options = pa_json.ParseOptions(
            explicit_schema=pa.schema([(c, types[c]) for c in present]), unexpected_field_behavior="error"
        )
        try:
            table = pa_json.read_json(pa.BufferReader(pa.py_buffer(data)), parse_options=options)
        except (pa.ArrowException, OSError):
            continue
        _check_columns(table.column_names, name)
        return {column: table.column(column).combine_chunks() for column in table.column_names}
    # Mixed types in a column (names and indices), NaN, or a broken line: read it in Python,
    # which accepts the first two and finds the line for the third.
    return _read_jsonl_slowly(data, name)


def _check_json_structure(data: bytes, name: str) -> None:
    """Refuse a line nested deeper than a record can be, or with more fields than a record has.

    A byte scan that a JSON parser cannot out-nest: escaped backslashes and quotes are dropped,
    then every byte but quotes, brackets, colons and line breaks; what is left is scanned in
    blocks of whole lines, pairing quotes per line and counting brackets and colons outside
    strings. Up to a line's first syntax error (where a parser stops) it reads the line as a
    parser does, so no parser ever nests deeper or sees more fields than it found.
    """
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(None, _NOT_JSON_STRUCTURE)
    line_ends = np.flatnonzero(np.frombuffer(structure, dtype=np.uint8) == _NEWLINE)
    fields = len(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    first_line = start = 0
    while start < len(structure):
        next_end = np.searchsorted(line_ends, start + _SCAN_BLOCK_BYTES)
        stop = int(line_ends[next_end]) + 1 if next_end < line_ends.size else len(structure)
        codes = np.frombuffer(structure, dtype=np.uint8, count=stop - start, offset=start)
        newline = codes == _NEWLINE
        if not _may_nest_too_deep(codes, newline, fields):
            first_line += int(np.count_nonzero(newline))
            start = stop
            continue
        last_newline = np.maximum.accumulate(np.where(newline, np.arange(codes.size, dtype=np.int32), -1))
        quote = codes == _QUOTE
        in_string = (_per_line(quote, last_newline) % 2 == 1) | quote
        step = _JSON_STEP[codes]
        step[in_string] = 0
        for counts, allowed, what in (
            (_per_line(step, last_newline), _MAX_JSON_DEPTH, "nests values {:,} deep"),
            (_per_line((codes == _COLON) & ~in_string, last_newline), fields, "has {:,} fields"),
        ):
            worst = int(counts.argmax())
            if counts[worst] > allowed:
                line = first_line + int(np.count_nonzero(newline[:worst])) + 1
                raise PredictionsError(
                    f"predictions file {name}: line {line:,} {what.format(int(counts[worst]))}; a record is one "
                    "object with id, prediction and optionally a list of probabilities"
                )
        first_line += int(np.count_nonzero(newline))
        start = stop


def _may_nest_too_deep(codes: np.ndarray, newline: np.ndarray, fields: int) -> bool:
    """Whether some line has more brackets or colons than allowed, strings not told apart (a quick upper bound)."""
    running = np.cumsum(_BLIND_WEIGHT[codes])
    ends = np.flatnonzero(newline)
    if not newline[-1]:
        ends = np.append(ends, codes.size - 1)
    per_line = np.diff(running[ends], prepend=0)
    return bool((per_line & 0xFFFFFFFF).max() > _MAX_JSON_DEPTH or (per_line >> 32).max() > fields)


def _per_line(steps: np.ndarray, last_newline: np.ndarray) -> np.ndarray:
    """Running sums of ``steps`` that restart after each line break (``last_newline``: its position, or -1)."""
    running = np.cumsum(steps, dtype=np.int32)
    return running - np.where(last_newline >= 0, running[last_newline], 0)


def _is_text(kind: pa.DataType) -> bool:
    return any(
        test(kind)
        for test in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
    )


def _read_jsonl_slowly(data: bytes, name: str) -> dict[str, Any]:
    try:
        lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
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
    try:
        ids = pa.array(
            [r.get("id") if isinstance(r.get("id"), str) or r.get("id") is None else str(r["id"]) for r in records],
            pa.string(),
        )
    except UnicodeEncodeError:  # a "\ud800" escape: a lone surrogate is no Unicode text
        raise PredictionsError(
            f"predictions file {name}: an id is not valid Unicode (a lone surrogate escape such as \\ud800); "
            "give the dataset's ids"
        ) from None
    columns: dict[str, Any] = {
        "id": ids,
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
        found = _listed(columns) or "none"
        wrong = f"lacks columns {', '.join(missing)}" if missing else f"has unexpected columns {_listed(extra)}"
        raise PredictionsError(
            f"predictions file {name} {wrong} (found: {found}); allowed are id, prediction and optionally probabilities"
        )
    if len(set(columns)) != len(columns):
        raise PredictionsError(f"predictions file {name} repeats a column name; give each column once")


def _listed(names: list[str]) -> str:
    """The first few names, shown; a file may have thousands."""
    shown = ", ".join(_show(n) for n in names[:_SHOWN])
    return shown + (f", ... ({len(names):,} in all)" if len(names) > _SHOWN else "")


def _checked(columns: dict[str, Any], truth: Truth, name: str) -> pd.DataFrame:
    try:
        ids = id_array(columns["id"])
    except pa.ArrowInvalid as error:  # a binary Parquet column that is not UTF-8
        raise PredictionsError(
            f"predictions file {name}: column id is not UTF-8 text ({_one_line(error)}); give the dataset's ids"
        ) from None
    empty = np.flatnonzero(pc.fill_null(pc.equal(pc.utf8_length(ids), 0), True).to_numpy(zero_copy_only=False))
    if empty.size:
        raise PredictionsError(
            f"predictions file {name}: {empty.size} rows have no id, first {_first(empty)}; "
            "every row needs the id of an evaluated item"
        )
    truth_ids = id_array(truth.frame["id"])
    # One hash pass over the truth's ids and then the file's: the truth's ids are unique, so the
    # truth's row i gets code i, a file id's code is its truth row when below len(truth_ids), and
    # equal codes are equal ids (duplicates).
    codes = pc.dictionary_encode(pa.concat_arrays([truth_ids, ids])).indices.to_numpy()[len(truth_ids) :]
    counts = np.bincount(codes)
    if counts.max(initial=0) > 1:
        first_seen = np.zeros(len(ids), dtype=bool)
        first_seen[np.unique(codes, return_index=True)[1]] = True
        extra = np.flatnonzero(~first_seen)
        raise PredictionsError(
            f"predictions file {name}: {int((counts > 1).sum())} ids appear more than once "
            f"({extra.size} extra rows), first {_first(extra, ids)}; give each id exactly once"
        )
    position = np.where(codes < len(truth_ids), codes, -1)
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
    kinds = pd.Series(values, dtype=object).map(type).to_numpy()
    out = np.full(len(values), -1, dtype=np.int64)
    text = kinds == str
    if text.any():
        strings = pd.Series(values[text], dtype=object)
        # A dict lookup per name, not Series.map: pandas would turn the names into Arrow strings,
        # which a lone surrogate ("\udc80" in JSON) cannot be.
        named = pd.Series([by_name.get(v, np.nan) for v in values[text]], dtype=np.float64)
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
    _check_list_type(array.type, name)
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
