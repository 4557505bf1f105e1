"""Row blocks, the hot path of large files: a parser's :meth:`~FormatParser.stream` may hand
over runs of ordinary rows already in their staged columnar form. Whatever the file, the
batches, row errors and counts that the import sends must be exactly those of the rows one by
one (:meth:`~FormatParser.parse`), and the text reader must cut lines as ``readline`` does."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tj_imports.formats import base, registry
from tj_imports.formats.base import LineTooLong, RowBlock
from tj_imports.formats.parsers import zerodha
from tj_imports.staging import MAX_STAGE_BATCH, Batcher

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "india"
HEADER = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time\n"
)


def ordinary(n: int, *, trade_id: str | None = None, symbol: str = "RELIANCE") -> str:
    """One plain tradebook record, as Console writes them."""
    minute = n % 60
    return (
        f"{symbol},INE002A01018,2026-03-02,NSE,EQ,EQ,{'buy' if n % 2 else 'sell'},false,10.000000,"
        f"{1000 + n % 7}.50,{trade_id or 50_000_000 + n},{1_300_000_000 + n // 2},"
        f"2026-03-02T09:{minute:02d}:{n % 60:02d}\n"
    )


def drain(batcher: Batcher, rows: int) -> list[tuple[Any, ...]]:
    """Every chunk the batcher gives when taken ``rows`` at a time."""
    chunks = []
    while True:
        chunk = batcher.take(rows)
        assert chunk.rows <= rows
        chunks.append((chunk.batches, chunk.errors, chunk.rows, chunk.day_level, chunk.done))
        if chunk.done:
            return chunks


def both(path: Path, rows: int = 5_000) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """(chunks from parse, chunks from stream, how many row blocks stream gave)."""
    _, parsed = registry.parse_file(path)
    _, streamed = registry.stream_file(path)
    blocks = 0

    def counted(items: Iterator[Any]) -> Iterator[Any]:
        nonlocal blocks
        for item in items:
            blocks += isinstance(item, RowBlock)
            yield item

    return drain(Batcher(parsed), rows), drain(Batcher(counted(streamed)), rows), blocks


def test_a_large_ordinary_file_streams_in_blocks_and_stages_as_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "tradebook.csv"
    path.write_text(HEADER + "".join(ordinary(n) for n in range(1, 12_346)))
    parsed, streamed, blocks = both(path)
    assert blocks == 13  # 12,345 records, 1,000 a block
    assert streamed == parsed
    batches = [batch for chunk in streamed for batch in chunk[0]]
    assert sum(len(b["line"]) for b in batches) == 12_345
    assert all(len(b["line"]) <= MAX_STAGE_BATCH for b in batches)
    first = batches[0]
    assert first["executed_at"][0] == "2026-03-02T03:31:01+00:00"  # 09:01:01 IST
    assert first["fingerprint"][0] == "t:50000001" and first["exchange"][0] == "NSE"


def test_long_rows_cut_blocks_where_the_byte_limit_cuts_rows(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + "".join(ordinary(n, trade_id="T" * 200 + str(n)) for n in range(1, 4_001)))
    for rows in (5_000, 777):
        parsed, streamed, blocks = both(path, rows)
        assert blocks and streamed == parsed
        assert max(len(b["line"]) for chunk in streamed for b in chunk[0]) < MAX_STAGE_BATCH


@pytest.mark.parametrize("name", ["zerodha_equity.csv", "zerodha_fo.csv", "zerodha_bad_rows.csv", "zerodha_bom.csv"])
def test_the_fixtures_stage_the_same_through_either_path(name: str) -> None:
    parsed, streamed, _ = both(FIXTURES / name)
    assert streamed == parsed


# Cells that the block path must either take exactly as text_row would or leave to it.
ODD = {
    "symbol": ["reliance", " TCS", "TCS ", "", "NIFTY2560524750PE", "BANKNIFTY25JUN52000CE", "A\x1fB", "ß"],
    "exchange": ["nse", " NSE", "BSE", "NFO", "MCX", "CDS", ""],
    "segment": ["FO", "NFO", " EQ", "COM", "", "CDS"],
    "trade_type": ["BUY", "Sell", " buy", "short", ""],
    "quantity": ["0", "0.000", "00.5", "1e3", "-1", "1_000", " 10", "10.", ".5", "\u0661\u0660", "1,000", "5"],
    "price": ["0", "0.0000001", "1E+2", "-0", "Infinity", "NaN", "2,50,000.00", "12.345678901", ""],
    "trade_id": ["", " 7", "7 ", "1.2E+15", "T\x1f1"],
    "order_id": ["", " ", " 9", "O-1"],
    "order_execution_time": [
        "2026-02-30T10:00:00",
        "2026-03-02 09:15:00",
        "2026-03-02T09:15:00.5",
        "2026-03-02T09:15:60",
        "2026-03-02T24:00:00",
        "1985-03-02T09:15:00",
        "2100-12-31T23:59:59",
        "2026-03-02T09:15:00+05:30",
        "",
        "02-03-2026 09:15:00",
    ],
}
COLUMNS = HEADER.strip().split(",")


@st.composite
def tradebooks(draw: st.DrawFn) -> str:
    lines = [HEADER]
    for n in range(draw(st.integers(1, 12))):
        cells = ordinary(n + 1).rstrip("\n").split(",")
        for column, values in ODD.items():
            if draw(st.integers(0, 9)) == 0:
                cells[COLUMNS.index(column)] = draw(st.sampled_from(values))
        if draw(st.integers(0, 15)) == 0:
            cells = cells[: draw(st.integers(0, len(cells) - 1))]  # a short record
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells) + "\n")
    return "".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=tradebooks())
def test_odd_values_stage_the_same_through_either_path(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small blocks, so one file mixes blocks taken whole with blocks read row by row."""
    monkeypatch.setattr(zerodha, "BLOCK_ROWS", 3)
    path = tmp_path / "odd.csv"
    path.write_text(text, encoding="utf-8")
    try:
        expected = both(path, 4)[0]
    except base.ImportFileError as exc:
        with pytest.raises(type(exc)):
            both(path, 4)
        return
    assert both(path, 4)[1] == expected


def readline_lines(text: str) -> list[str]:
    stream = io.StringIO(text, newline="")
    return list(iter(stream.readline, ""))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(["a", "bc,d", "\n", "\r", "\r\n", '"', "é", "\x1c", "\u2028", "\x85"]), max_size=60
    ),
    chars=st.integers(1, 7),
)
def test_lines_are_cut_as_readline_cuts_them(pieces: list[str], chars: int) -> None:
    """Whatever falls on a read boundary (a \\r\\n cut in two, say); only \\n, \\r and \\r\\n end
    a line, as with the file opened with newline=''."""
    text = "".join(pieces)
    original = base.READ_CHARS
    base.READ_CHARS = chars
    try:
        lines = list(base._bounded_lines(io.StringIO(text, newline="")))
    finally:
        base.READ_CHARS = original
    assert lines == readline_lines(text)


def test_a_line_too_long_is_refused_before_it_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "MAX_LINE_CHARS", 10)
    monkeypatch.setattr(base, "READ_CHARS", 4)
    reads: list[int] = []

    class Counting(io.StringIO):
        def read(self, size: int | None = -1, /) -> str:
            reads.append(size or 0)
            return super().read(size)

    with pytest.raises(LineTooLong, match="line 2 "):
        list(base._bounded_lines(Counting("short\n" + "x" * 1_000 + "\n", newline="")))
    assert sum(reads) < 30  # not the whole 1,000-character line
    with pytest.raises(LineTooLong, match="line 3 "):
        list(base._bounded_lines(io.StringIO("a\nb\n" + "y" * 12 + "\nc\n", newline="")))
    assert list(base._bounded_lines(io.StringIO("a\n" + "z" * 9 + "\n", newline=""))) == ["a\n", "z" * 9 + "\n"]


def test_a_block_is_split_so_a_chunk_never_passes_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "tradebook.csv"
    path.write_text(HEADER + "".join(ordinary(n) for n in range(1, 2_501)))
    _, streamed = registry.stream_file(path)
    chunks = drain(Batcher(streamed), 600)
    assert [chunk[2] for chunk in chunks] == [600, 600, 600, 600, 100]
    lines = itertools.chain.from_iterable(batch["line"] for chunk in chunks for batch in chunk[0])
    assert list(lines) == list(range(2, 2_502))
