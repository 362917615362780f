"""Hostile predictions files: each is parsed in a child process, refused in one line, within the memory bound.

Every attack runs :func:`read_predictions` in a fresh Python process that reports its outcome and
its peak resident memory (``VmHWM``). The parent checks that the process neither crashed (a
segfault is a negative return code) nor raised anything but a one-line ``PredictionsError``, and
that its peak stayed under :data:`MEMORY_BOUND_MIB` (the bound the module docstring states). The
child also runs under an address-space limit, so that an attack that gets through cannot take the
shared test machine down with it: it fails with a MemoryError instead.
"""

import gzip
import io
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elsewhere.evaluation.predictions import MEMORY_BOUND_BYTES, PredictionsError, read_predictions
from elsewhere.evaluation.truth import Truth
from elsewhere.splits.grid import Grid

CLASSES = ("circle", "square", "triangle")
MEMORY_BOUND_MIB = MEMORY_BOUND_BYTES / 2**20
# The child's address-space limit: far above the bound (mimalloc and thread stacks reserve
# address space they never touch), far below what would hurt a shared machine.
ADDRESS_SPACE_LIMIT = 3 * 2**30
MIB = 2**20
SMALL, LARGE = 12, 50_000


def demo_truth(items: int) -> Truth:
    """A truth of ``items`` items over three classes (ids ``demo/<split>/<index>``)."""
    grid = Grid(2)
    splits = np.array(["test_id", "test_ood", "probe"])[np.arange(items) * 3 // items]
    x = np.linspace(0.05, 0.95, items)
    frame = pd.DataFrame(
        {
            "id": [f"demo/{s}/{i:06d}" for i, s in enumerate(splits)],
            "split": splits,
            "label": np.arange(items) % 3,
            "x": x,
            "y": 0.5,
            "rotation": 0.0,
            "scale": 0.2,
            "cell": grid.cell_of(x, 0.5),
            "group": np.where(splits == "probe", np.arange(items) // 4, -1),
            "region": np.where(x < 0.5, "train", "held-out"),
        }
    )
    return Truth("demo", 1, "cd" * 32, CLASSES, frame, grid, None, ("location",))


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from test_upload_bombs import demo_truth
    from elsewhere.evaluation.predictions import PredictionsError, read_predictions

    truth = demo_truth(int(sys.argv[3]))
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[4]), int(sys.argv[4])))
    try:
        read_predictions(sys.argv[2], truth)
        outcome, message = "accepted", ""
    except PredictionsError as error:
        outcome, message = "refused", str(error)
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"outcome": outcome, "message": message, "peak_mib": peak / 1024}))
    """
)


def parsed_in_child(path: Path, items: int) -> dict:
    """Run read_predictions on ``path`` against a truth of ``items`` items in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).parent), str(path), str(items), str(ADDRESS_SPACE_LIMIT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
    assert done.returncode == 0, f"the parse crashed (return code {done.returncode}): {tail[0]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def valid_records(items: int) -> list[dict]:
    return [{"id": i, "prediction": 0} for i in demo_truth(items).frame["id"]]


def csv_text(items: int) -> bytes:
    return ("id,prediction\n" + "".join(f"{r['id']},0\n" for r in valid_records(items))).encode()


def parquet_bytes(table: pa.Table, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


# --- JSON lines ---------------------------------------------------------------------------------


def deep_jsonl(path: Path) -> None:
    """The issue's crash: a value nested 50,000 deep, which segfaulted pyarrow's JSON reader."""
    depth = 50_000
    path.write_text('{"id": "demo/test_id/000000", "prediction": ' + "[" * depth + "]" * depth + "}\n")


def nested_jsonl(path: Path) -> None:
    """Nesting short enough to pass the line-length check, so that the structure scan must refuse it."""
    depth = 500
    path.write_text('{"id": "demo/test_id/000000", "prediction": ' + "[" * depth + "]" * depth + "}\n")


def nested_jsonl_behind_a_string(path: Path) -> None:
    """Closing brackets inside a string first, so that a scan blind to strings sees depth 0."""
    depth = 300
    path.write_text('{"id": "' + "]" * depth + '", "prediction": ' + "[" * depth + "]" * depth + "}\n")


def nested_jsonl_behind_escapes(path: Path) -> None:
    """Escaped quotes and backslashes in a string, so that a scan must pair quotes as JSON does."""
    depth = 300
    text = '\\\\\\"' + "]" * depth
    path.write_text('{"id": "' + text + '", "prediction": ' + "[" * depth + "]" * depth + "}\n")


def nested_jsonl_objects(path: Path) -> None:
    depth = 100
    path.write_text('{"id": "a", "prediction": ' + '{"a": ' * depth + "0" + "}" * depth + "}\n")


def jsonl_long_line(path: Path) -> None:
    path.write_text('{"id": "' + "a" * (40 * MIB) + '", "prediction": 0}\n')


def jsonl_column_explosion(path: Path) -> None:
    """Two fresh keys on each of 100,000 short lines: 200,000 columns of 100,000 rows if inferred."""
    lines = (f'{{"id": "demo/x/{row}", "prediction": 0, "a{row}": 0, "b{row}": 0}}' for row in range(100_000))
    path.write_text("\n".join(lines) + "\n")


def jsonl_too_many_lines(path: Path) -> None:
    path.write_bytes(b'{"id": "a", "prediction": 0}\n' * 1_500_000)


def jsonl_long_probability_lists(path: Path) -> None:
    """Rows of the right count whose lists hold 100,000 entries each (45 MB of zeros)."""
    zeros = ", ".join(["0"] * 100_000)
    with path.open("w") as out:
        for record in valid_records(SMALL) * 12:
            out.write(f'{{"id": "{record["id"]}", "prediction": 0, "probabilities": [{zeros}]}}\n')


def zip_named_jsonl(path: Path) -> None:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p.jsonl", "".join(json.dumps(r) + "\n" for r in valid_records(SMALL)))
    path.write_bytes(sink.getvalue())


# --- CSV ------------------------------------------------------------------------------------------


def gzip_named_csv(path: Path) -> None:
    path.write_bytes(gzip.compress(csv_text(SMALL)))


def parquet_named_csv(path: Path) -> None:
    path.write_bytes(parquet_bytes(pa.Table.from_pylist(valid_records(SMALL))))


def binary_junk_csv(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(1 * MIB))


def nul_in_csv(path: Path) -> None:
    path.write_bytes(csv_text(SMALL).replace(b"demo/test_id/000000", b"demo/test_id/\x00\x00\x00\x00\x00\x00"))


def csv_one_huge_line(path: Path) -> None:
    path.write_bytes(b"id,prediction\n" + b"a" * (45 * MIB) + b",0\n")


def csv_too_many_rows(path: Path) -> None:
    path.write_bytes(b"id,prediction\n" + b"a,0\n" * (12 * MIB))


def csv_wide_probability_cells(path: Path) -> None:
    """A row count the truth allows, each probabilities cell a 400-entry list: 42 MB in all."""
    cell = '"[' + ",".join(["0"] * 400) + ']"'
    rows = "".join(f"{record['id']},0,{cell}\n" for record in valid_records(LARGE))
    path.write_text("id,prediction,probabilities\n" + rows)


# --- Parquet --------------------------------------------------------------------------------------


def parquet_dictionary_string_bomb(path: Path) -> None:
    """One 1 MiB id, dictionary-encoded and repeated over 1,000 rows: a few KB that expand to 1 GB."""
    ids = pa.DictionaryArray.from_arrays(pa.array(np.zeros(1000, dtype=np.int32)), pa.array(["a" * MIB]))
    table = pa.table({"id": ids, "prediction": pa.array(np.zeros(1000, dtype=np.int64))})
    path.write_bytes(parquet_bytes(table, compression="zstd"))


def parquet_delta_string_bomb(path: Path) -> None:
    """One 1 MiB id repeated over 1,000 rows as DELTA_BYTE_ARRAY: each repeat is a shared prefix, 1 GB decoded."""
    table = pa.table({"id": pa.array(["a" * MIB] * 1000), "prediction": pa.array(np.zeros(1000, dtype=np.int64))})
    path.write_bytes(
        parquet_bytes(table, compression="zstd", use_dictionary=False, column_encoding={"id": "DELTA_BYTE_ARRAY"})
    )


def parquet_plain_long_ids(path: Path) -> None:
    """Ids of 40 KiB each, PLAIN-encoded (read without a dictionary): their size is what the pages declare."""
    table = pa.table({"id": pa.array(["b" * 40_000 + str(i) for i in range(1000)]), "prediction": np.zeros(1000)})
    path.write_bytes(parquet_bytes(table, compression="zstd", use_dictionary=False))


def parquet_plain_huge_id(path: Path) -> None:
    """One PLAIN id as long as a large truth's page limit allows (about 70 MB): no dictionary checks its width."""
    ids = [r["id"] for r in valid_records(LARGE)]
    ids[-1] = "d" * 70 * 10**6
    table = pa.table({"id": pa.array(ids), "prediction": pa.array(np.zeros(len(ids), dtype=np.int64))})
    path.write_bytes(parquet_bytes(table, compression="zstd", use_dictionary=False))


def parquet_plain_wide_ids(path: Path) -> None:
    """Twice a large truth's rows, each id 800 bytes and distinct, PLAIN: just over the pages' limit, refused unread."""
    ids = [f"{i:08d}" + "e" * 792 for i in range(2 * LARGE)]
    table = pa.table({"id": pa.array(ids), "prediction": pa.array(np.zeros(len(ids), dtype=np.int64))})
    path.write_bytes(parquet_bytes(table, compression="zstd", use_dictionary=False))


def parquet_mixed_encodings(path: Path) -> None:
    """A dictionary row group of valid ids, then a PLAIN one repeating a 1 MiB id: read as a dictionary, width-checked."""
    valid = pa.table({"id": pa.array([r["id"] for r in valid_records(SMALL)]), "prediction": pa.array([0] * SMALL)})
    bomb = pa.table({"id": pa.array(["f" * MIB] * 200), "prediction": pa.array([0] * 200)})
    # A dictionary page limit below one value: the second row group falls back to PLAIN.
    options = {"compression": "zstd", "use_dictionary": True, "dictionary_pagesize_limit": 2**16}
    with pq.ParquetWriter(path, valid.schema, **options) as writer:
        writer.write_table(valid)
        writer.write_table(bomb)
    encodings = [pq.ParquetFile(path).metadata.row_group(g).column(0).encodings for g in range(2)]
    assert "RLE_DICTIONARY" in encodings[0] and "PLAIN" in encodings[1], encodings


def parquet_prediction_string_bomb(path: Path) -> None:
    ids = pa.array([r["id"] for r in valid_records(SMALL)] * 80)
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(ids), dtype=np.int32)), pa.array(["c" * MIB]))
    path.write_bytes(parquet_bytes(pa.table({"id": ids, "prediction": names}), compression="zstd"))


def parquet_list_bomb(path: Path) -> None:
    """Twenty one-row row groups, each a list of 20 million zeros: 3.2 GB of float64 from a small file."""
    values = pa.array(np.zeros(20_000_000))
    lists = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    table = pa.table({"id": ["demo/test_id/000000"], "prediction": [0], "probabilities": lists})
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(20):
            writer.write_table(table)


def forged_footer(data: bytes, claimed: int) -> bytes:
    """``data`` with the first column chunk's total_uncompressed_size in the footer replaced by ``claimed``.

    The value is a zigzag varint (Thrift compact protocol); ``claimed`` must encode to as many bytes.
    """

    def varint(value: int) -> bytes:
        value, out = value << 1, bytearray()  # zigzag of a non-negative number
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes(out + bytes([value]))

    real = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).total_uncompressed_size
    footer_length = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_length
    footer = data[start:-8]
    assert footer.count(varint(real)) == 1 and len(varint(claimed)) == len(varint(real))
    return data[:start] + footer.replace(varint(real), varint(claimed)) + data[-8:]


def parquet_forged_footer(path: Path) -> None:
    """One plain 16 MiB id, its footer claiming 1 MiB: the reader trusts the page header, not the footer."""
    table = pa.table({"id": ["a" * 16 * MIB], "prediction": [0]})
    data = parquet_bytes(table, compression="zstd", use_dictionary=False, write_statistics=False)
    forged = forged_footer(data, MIB)
    assert pq.ParquetFile(io.BytesIO(forged)).metadata.row_group(0).column(0).total_uncompressed_size == MIB
    path.write_bytes(forged)


def parquet_many_rows(path: Path) -> None:
    zeros = pa.array(np.zeros(50_000_000, dtype=np.int8))
    table = pa.table({"id": pa.DictionaryArray.from_arrays(zeros, pa.array(["a"])), "prediction": zeros})
    pq.write_table(table, path, compression="zstd", row_group_size=50_000_000)


def parquet_deep_type(path: Path) -> None:
    value = pa.array([0.5])
    for _ in range(20):
        value = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), value)
    table = pa.table({"id": ["demo/test_id/000000"], "prediction": [0], "probabilities": value})
    path.write_bytes(parquet_bytes(table))


def parquet_many_columns(path: Path) -> None:
    table = pa.table({"id": ["a"], "prediction": [0], **{f"c{i}": [0] for i in range(20_000)}})
    path.write_bytes(parquet_bytes(table))


def parquet_many_row_groups(path: Path) -> None:
    table = pa.table({"id": ["a"] * 20_000, "prediction": [0] * 20_000})
    pq.write_table(table, path, row_group_size=1)


ATTACKS = {
    "deep.jsonl": (deep_jsonl, SMALL, "bytes long"),
    "nested.jsonl": (nested_jsonl, SMALL, "nests values 501 deep"),
    "nested-behind-string.jsonl": (nested_jsonl_behind_a_string, SMALL, "nests values 301 deep"),
    "nested-behind-escapes.jsonl": (nested_jsonl_behind_escapes, SMALL, "nests values 301 deep"),
    "nested-objects.jsonl": (nested_jsonl_objects, SMALL, "nests values 101 deep"),
    "long-line.jsonl": (jsonl_long_line, SMALL, "bytes long"),
    "columns.jsonl": (jsonl_column_explosion, LARGE, "fields"),
    "lines.jsonl": (jsonl_too_many_lines, SMALL, "lines"),
    "long-lists.jsonl": (jsonl_long_probability_lists, SMALL, "bytes long"),
    "zip.jsonl": (zip_named_jsonl, SMALL, "zip"),
    "gzip.csv": (gzip_named_csv, SMALL, "gzip"),
    "parquet.csv": (parquet_named_csv, SMALL, "Parquet"),
    "junk.csv": (binary_junk_csv, SMALL, "binary"),
    "nul.csv": (nul_in_csv, SMALL, "binary"),
    "huge-line.csv": (csv_one_huge_line, SMALL, "bytes long"),
    "rows.csv": (csv_too_many_rows, SMALL, "lines"),
    "wide-cells.csv": (csv_wide_probability_cells, LARGE, "entries"),
    "string-bomb.parquet": (parquet_dictionary_string_bomb, SMALL, "more than an evaluated id"),
    "delta-bomb.parquet": (parquet_delta_string_bomb, SMALL, "cannot read Parquet"),
    "plain-long-ids.parquet": (parquet_plain_long_ids, SMALL, "pages expand"),
    "plain-huge-id.parquet": (parquet_plain_huge_id, LARGE, "more than an evaluated id"),
    "plain-wide-ids.parquet": (parquet_plain_wide_ids, LARGE, "pages expand"),
    "mixed-encodings.parquet": (parquet_mixed_encodings, SMALL, "more than an evaluated id"),
    "prediction-bomb.parquet": (parquet_prediction_string_bomb, SMALL, "class name"),
    "list-bomb.parquet": (parquet_list_bomb, SMALL, "probabilities"),
    "rows.parquet": (parquet_many_rows, SMALL, "rows"),
    "forged-footer.parquet": (parquet_forged_footer, SMALL, "pages expand"),
    "deep-type.parquet": (parquet_deep_type, SMALL, "probabilities"),
    "columns.parquet": (parquet_many_columns, SMALL, "column"),
    "row-groups.parquet": (parquet_many_row_groups, LARGE, "row groups"),
}
SLOW = {"columns.jsonl", "long-lists.jsonl", "wide-cells.csv", "list-bomb.parquet", "rows.parquet", "huge-line.csv"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in ATTACKS])
def test_attack_is_refused_in_one_line_within_the_memory_bound(tmp_path, name):
    build, items, words = ATTACKS[name]
    path = tmp_path / f"upload{Path(name).suffix}"  # a neutral name: the message must not echo the attack's
    build(path)
    assert path.stat().st_size <= 50 * MIB
    result = parsed_in_child(path, items)
    assert result["outcome"] == "refused", f"{name} was accepted"
    message = result["message"]
    assert message and "\n" not in message and len(message) < 500 and words in message, message
    assert result["peak_mib"] < MEMORY_BOUND_MIB, f"{name} peaked at {result['peak_mib']:.0f} MiB: {message}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_a_large_valid_file_is_read_within_the_memory_bound(tmp_path, kind):
    """The largest legitimate shape: 50,000 rows with 3 probabilities each, read and accepted."""
    from elsewhere.evaluation.predictions import make_predictions, write_predictions

    truth = demo_truth(LARGE)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=LARGE).astype(np.float32)
    write_predictions(
        make_predictions(truth.frame["id"], probabilities.argmax(1), probabilities), tmp_path / f"p.{kind}"
    )
    result = parsed_in_child(tmp_path / f"p.{kind}", LARGE)
    assert result["outcome"] == "accepted", result["message"]
    assert result["peak_mib"] < MEMORY_BOUND_MIB


def test_the_child_reports_a_refusal_like_the_parent(tmp_path):
    """The child runs the same reader: a malformed file gets the same one line in both."""
    path = tmp_path / "p.csv"
    path.write_text("id,pred\na,0\n")
    with pytest.raises(PredictionsError) as caught:
        read_predictions(path, demo_truth(SMALL))
    assert parsed_in_child(path, SMALL)["message"] == str(caught.value)
