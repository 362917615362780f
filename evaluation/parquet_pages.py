"""What a Parquet column chunk's pages will expand to, read from their headers before any page is decoded.

A Parquet footer states each column chunk's sizes, but the reader trusts each page's own header:
a footer can claim a few kilobytes for a chunk whose page decompresses to gigabytes. So the pages
are walked here, header by header (Thrift compact protocol, the format's own encoding), over the
byte range the reader will read, and their declared uncompressed sizes and value counts are
summed. Nothing is decompressed; a malformed header raises :class:`PageHeaderError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.parquet as pq

# Thrift compact protocol type codes, and the PageHeader fields read (parquet.thrift).
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_UNCOMPRESSED_SIZE, _COMPRESSED_SIZE = 2, 3
_PAGE_TYPE, _DATA_PAGE, _DATA_PAGE_V2 = 1, 5, 8
_NUM_VALUES = 1
# A page's header field by its type (PageType DATA_PAGE 0, DATA_PAGE_V2 3), and the field of that
# header holding the data's encoding (Encoding PLAIN is 0).
_DATA_HEADERS = {0: _DATA_PAGE, 3: _DATA_PAGE_V2}
_ENCODING = {_DATA_PAGE: 2, _DATA_PAGE_V2: 4}
_PLAIN = 0
_MAX_HEADER_BYTES = 2**20
_MAX_NESTING = 16


class PageHeaderError(ValueError):
    """A page header that cannot be read: the file is damaged or forged."""


@dataclass(frozen=True)
class ChunkPages:
    """The sums over one column chunk's pages, as their headers declare them."""

    pages: int
    uncompressed_bytes: int
    largest_page_bytes: int
    values: int
    # Whether every page is a data page of PLAIN encoding: values then take their bytes in the
    # pages, so the declared sizes bound the decoded ones (a dictionary or a delta encoding can
    # expand far past its pages).
    plain: bool = False


def chunk_pages(data: bytes | memoryview, chunk: pq.ColumnChunkMetaData) -> ChunkPages:
    """Walk the pages of ``chunk`` in the file bytes ``data`` (the range the reader reads: from the
    dictionary page, if any, over ``total_compressed_size`` bytes)."""
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
        start = chunk.dictionary_page_offset
    end = start + chunk.total_compressed_size
    if start < 0 or end > len(data) or end < start:
        raise PageHeaderError(f"a column chunk lies outside the file (bytes {start:,} to {end:,} of {len(data):,})")
    pages = uncompressed = largest = values = 0
    plain = True
    position = start
    while position < end:
        header, position = _struct(data, position, min(end, position + _MAX_HEADER_BYTES), 0)
        page_bytes, stored_bytes = header.get(_UNCOMPRESSED_SIZE), header.get(_COMPRESSED_SIZE)
        if not isinstance(page_bytes, int) or not isinstance(stored_bytes, int) or page_bytes < 0 or stored_bytes < 0:
            raise PageHeaderError("a page header lacks its sizes")
        for kind in (_DATA_PAGE, _DATA_PAGE_V2):
            page = header.get(kind)
            if isinstance(page, dict) and isinstance(page.get(_NUM_VALUES), int):
                values += max(page[_NUM_VALUES], 0)
        kind = _DATA_HEADERS.get(header.get(_PAGE_TYPE))
        page = header.get(kind) if kind is not None else None
        plain = plain and isinstance(page, dict) and page.get(_ENCODING[kind]) == _PLAIN
        pages += 1
        uncompressed += page_bytes
        largest = max(largest, page_bytes)
        position += stored_bytes
    return ChunkPages(
        pages=pages, uncompressed_bytes=uncompressed, largest_page_bytes=largest, values=values, plain=plain
    )


def _varint(data: bytes | memoryview, position: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= end or shift > 63:
            raise PageHeaderError("a page header ends inside a number")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _value(data: bytes | memoryview, position: int, end: int, kind: int, depth: int) -> tuple[object, int]:
    """One value of compact-protocol type ``kind``; containers other than structs are skipped (None)."""
    if kind in (_TRUE, _FALSE):
        return kind == _TRUE, position
    if kind == _BYTE:
        return None, position + 1
    if kind in (_I16, _I32, _I64):
        raw, position = _varint(data, position, end)
        return _zigzag(raw), position
    if kind == _DOUBLE:
        return None, position + 8
    if kind == _BINARY:
        length, position = _varint(data, position, end)
        return None, position + length
    if kind == _STRUCT:
        return _struct(data, position, end, depth + 1)
    if kind in (_LIST, _SET):
        if position >= end:
            raise PageHeaderError("a page header ends inside a list")
        size, element = data[position] >> 4, data[position] & 0x0F
        position += 1
        if size == 15:
            size, position = _varint(data, position, end)
        if element in (_TRUE, _FALSE):
            return None, position + size  # booleans in a list take a byte each
        for _ in range(size):
            _, position = _value(data, position, end, element, depth + 1)
            if position > end:
                raise PageHeaderError("a page header ends inside a list")
        return None, position
    if kind == _MAP:
        size, position = _varint(data, position, end)
        if size:
            if position >= end:
                raise PageHeaderError("a page header ends inside a map")
            key, item = data[position] >> 4, data[position] & 0x0F
            position += 1
            for _ in range(size):
                _, position = _value(data, position, end, key, depth + 1)
                _, position = _value(data, position, end, item, depth + 1)
                if position > end:
                    raise PageHeaderError("a page header ends inside a map")
        return None, position
    raise PageHeaderError(f"a page header holds an unknown field type {kind}")


def _struct(data: bytes | memoryview, position: int, end: int, depth: int) -> tuple[dict[int, object], int]:
    if depth > _MAX_NESTING:
        raise PageHeaderError("a page header nests too deeply")
    fields: dict[int, object] = {}
    field = 0
    while True:
        if position >= end:
            raise PageHeaderError("a page header is cut short")
        byte = data[position]
        position += 1
        kind = byte & 0x0F
        if kind == _STOP:
            return fields, position
        if byte >> 4:
            field += byte >> 4
        else:
            raw, position = _varint(data, position, end)
            field = _zigzag(raw)
        fields[field], position = _value(data, position, end, kind, depth)
        if position > end:
            raise PageHeaderError("a page header is cut short")
