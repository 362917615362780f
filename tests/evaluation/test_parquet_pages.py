"""Parquet page headers walked without decoding: their sums match what the writer wrote; damage is refused."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elsewhere.evaluation.parquet_pages import PageHeaderError, chunk_pages


def written(table: pa.Table, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    ids = pa.array([f"demo/test_id/{i:06d}" for i in range(rows)])
    probabilities = pa.FixedSizeListArray.from_arrays(pa.array(rng.random(rows * 3)), 3)
    return pa.table({"id": ids, "prediction": pa.array(rng.integers(0, 3, rows)), "probabilities": probabilities})


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zstd", "data_page_version": "2.0"},
        {"use_dictionary": False, "data_page_size": 4096, "write_statistics": True},
    ],
)
def test_page_sums_match_the_footer_of_an_honest_file(options):
    data = written(table(20_000), **options)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    for group in range(metadata.num_row_groups):
        for position in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(position)
            pages = chunk_pages(data, chunk)
            assert pages.values == chunk.num_values
            assert pages.pages >= 1
            # The footer's size also counts the page headers; the pages' own sizes do not.
            assert 0 < pages.uncompressed_bytes < chunk.total_uncompressed_size
            assert pages.largest_page_bytes <= pages.uncompressed_bytes


def test_small_pages_are_all_walked():
    data = written(table(20_000), use_dictionary=False, data_page_size=1024)
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    assert chunk_pages(data, chunk).pages > 10


@pytest.mark.parametrize("cut", [1, 5, 40])
def test_a_damaged_header_is_refused(cut):
    data = written(table(100), use_dictionary=False)
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    start = chunk.data_page_offset
    damaged = data[:start] + b"\xff" * cut + data[start + cut :]
    with pytest.raises(PageHeaderError):
        chunk_pages(damaged, chunk)


def test_a_chunk_outside_the_file_is_refused():
    data = written(table(100))
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    with pytest.raises(PageHeaderError, match="outside the file"):
        chunk_pages(data[: chunk.data_page_offset + 4], chunk)


@pytest.mark.parametrize(
    "options, plain",
    [
        ({"use_dictionary": False}, True),
        ({"use_dictionary": False, "data_page_version": "2.0", "compression": "zstd"}, True),
        ({}, False),  # a dictionary page and dictionary-encoded data pages
        ({"use_dictionary": False, "column_encoding": {"id": "DELTA_BYTE_ARRAY"}}, False),
    ],
)
def test_plain_chunks_are_told_from_dictionary_and_delta_ones(options, plain):
    """Only PLAIN data pages hold their values' bytes, so only they may be read without a width check."""
    data = written(table(2_000), **options)
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    assert chunk_pages(data, chunk).plain is plain
