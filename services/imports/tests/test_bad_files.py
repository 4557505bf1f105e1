"""Bad input never gets past the parsers as anything but a typed error (or a row error for a bad
row): empty, binary and oddly encoded files, headers without rows or without a required column,
impossible and wrong-order dates, a 10 MB line, archives and zip bombs, unknown layouts."""

from __future__ import annotations

import codecs
import io
import os
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tj_imports.formats import registry
from tj_imports.formats.base import (
    ArchiveRejected,
    BinaryFile,
    EmptyFile,
    ImportFileError,
    LineTooLong,
    MissingColumns,
    NoRows,
    ParsedRow,
    ParseOptions,
    RowError,
    UnknownFormat,
    UnknownTimeZone,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "global"
TEMPLATE_HEADER = "date,time,timezone,symbol,exchange,segment,side,quantity,price,fees,currency,broker_trade_id\n"
TEMPLATE_ROW = "2026-03-02,09:15:04,Asia/Kolkata,RELIANCE,NSE,equity,buy,10,2950.50,12.40,INR,T1001\n"


def write(tmp_path: Path, data: bytes | str, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def parse_all(path: Path, format_name: str | None = None, options: ParseOptions | None = None) -> list[object]:
    _, rows = registry.parse_file(path, options, format_name)
    return list(rows)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyFile):
        parse_all(write(tmp_path, b""))
    with pytest.raises(EmptyFile):
        parse_all(write(tmp_path, "\n\n   \r\n\t\n"))


def test_binary_files(tmp_path: Path) -> None:
    with pytest.raises(BinaryFile):
        parse_all(write(tmp_path, os.urandom(4096) + b"\x00" * 16))
    with pytest.raises(BinaryFile):  # a legacy .xls (OLE2) workbook
        parse_all(write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024))
    with pytest.raises(BinaryFile):  # a PNG
        parse_all(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(512)))


@pytest.mark.parametrize(
    ("label", "encode"),
    [
        ("utf-8 with BOM", lambda text: codecs.BOM_UTF8 + text.encode()),
        ("utf-16 LE with BOM", lambda text: text.encode("utf-16")),
        ("utf-16 BE with BOM", lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be")),
    ],
)
def test_unicode_encodings_are_accepted(label: str, encode: object, tmp_path: Path) -> None:
    assert callable(encode)
    path = write(tmp_path, encode(TEMPLATE_HEADER + TEMPLATE_ROW))
    parser, rows = registry.parse_file(path)
    parsed = list(rows)
    assert parser.name == "generic_template_csv", label
    assert len(parsed) == 1 and isinstance(parsed[0], ParsedRow), parsed
    assert parsed[0].symbol == "RELIANCE"


def test_latin1_is_accepted_when_decodable(tmp_path: Path) -> None:
    text = (FIXTURES / "schwab.csv").read_text().replace("APPLE INC", "APPLE INC - CAFÉ ÜBER")
    path = write(tmp_path, text.encode("latin-1"))
    parser, rows = registry.parse_file(path)
    assert parser.name == "schwab_transactions_csv"
    assert [r.symbol for r in rows if isinstance(r, ParsedRow)] == ["AAPL", "AAPL", "SPY260620C00600000"]


def test_recognised_header_without_rows(tmp_path: Path) -> None:
    parser, rows = registry.parse_file(write(tmp_path, TEMPLATE_HEADER))
    assert parser.name == "generic_template_csv"
    with pytest.raises(NoRows):
        list(rows)


def test_header_missing_a_required_column(tmp_path: Path) -> None:
    header = TEMPLATE_HEADER.replace("quantity,", "")
    row = TEMPLATE_ROW.replace(",10,", ",")
    path = write(tmp_path, header + row)
    # Named explicitly, the template says which column is missing ...
    with pytest.raises(MissingColumns) as missing:
        parse_all(path, "generic_template_csv")
    assert missing.value.missing == ["quantity"]
    assert missing.value.code == "MissingColumns"
    # ... and detection no longer recognises the file at all.
    with pytest.raises(UnknownFormat):
        parse_all(path)


def test_impossible_and_wrong_order_dates_are_row_errors(tmp_path: Path) -> None:
    rows = [
        TEMPLATE_ROW,
        TEMPLATE_ROW.replace("2026-03-02", "2026-02-30"),  # impossible day
        TEMPLATE_ROW.replace("2026-03-02", "02-03-2026"),  # day-month-year where year-month-day is documented
        TEMPLATE_ROW.replace("09:15:04", "25:61:00"),  # impossible time
        TEMPLATE_ROW.replace("2026-03-02", "0000-01-01"),
    ]
    parsed = parse_all(write(tmp_path, TEMPLATE_HEADER + "".join(rows)))
    assert isinstance(parsed[0], ParsedRow)
    errors = parsed[1:]
    assert all(isinstance(e, RowError) for e in errors), errors
    assert [(e.line, e.column) for e in errors if isinstance(e, RowError)] == [
        (3, "date"),
        (4, "date"),
        (5, "time"),
        (6, "date"),
    ]


def test_close_before_open_is_a_row_error() -> None:
    # MT4: a position whose close time precedes its open time (see the fixture's ticket 30005)
    errors = [r for r in parse_all(FIXTURES / "mt4_statement.html") if isinstance(r, RowError)]
    assert [(e.line, e.column, e.reason) for e in errors] == [(21, "Close Time", "closes before it opens")]


def test_ten_megabyte_single_line(tmp_path: Path) -> None:
    with pytest.raises(LineTooLong):
        parse_all(write(tmp_path, "a," * (5 * 1024 * 1024)))


def test_ten_megabyte_line_after_the_sampled_lines(tmp_path: Path) -> None:
    body = TEMPLATE_HEADER + TEMPLATE_ROW * 60 + "x" * (10 * 1024 * 1024) + "\n" + TEMPLATE_ROW
    parser, rows = registry.parse_file(write(tmp_path, body))
    assert parser.name == "generic_template_csv"
    with pytest.raises(LineTooLong):
        list(rows)


def test_a_quoted_field_that_never_closes(tmp_path: Path) -> None:
    # Every later line joins one field, which outgrows the csv module's field limit.
    body = TEMPLATE_HEADER + TEMPLATE_ROW + '2026-03-02,"09:15:04\n' + "x,y\n" * 100_000
    _, rows = registry.parse_file(write(tmp_path, body))
    with pytest.raises(LineTooLong):
        list(rows)


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("trades.csv", TEMPLATE_HEADER + TEMPLATE_ROW)
    with pytest.raises(ArchiveRejected):
        parse_all(write(tmp_path, buffer.getvalue()))


def test_a_broken_zip(tmp_path: Path) -> None:
    with pytest.raises(BinaryFile):
        parse_all(write(tmp_path, b"PK\x03\x04" + os.urandom(2048)))


def _workbook_with(member: str, size: int) -> bytes:
    """A real workbook whose ``member`` holds ``size`` bytes of padding (deflating about 1000:1);
    a worksheet member stays well-formed XML (the padding is whitespace inside ``sheetData``)."""
    book = io.BytesIO()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Deals"
    sheet.append(["Time", "Deal", "Symbol", "Type", "Direction", "Volume", "Price"])
    workbook.save(book)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(book.getvalue())) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            if info.filename != member:
                z.writestr(info, source.read(info))
        original = source.read(member) if member in source.namelist() else b"<sheetData></sheetData>"
        head, _, tail = original.partition(b"<sheetData>")
        with z.open(member, "w") as out_member:
            out_member.write(head + b"<sheetData>")
            chunk = b" " * (1 << 20)
            for _ in range(size // len(chunk)):
                out_member.write(chunk)
            out_member.write(tail)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def test_an_xlsx_whose_members_inflate_hugely(tmp_path: Path) -> None:
    data = _workbook_with(SHEET, 300 << 20)
    assert len(data) < 2 << 20  # a small upload ...
    with pytest.raises(ArchiveRejected):  # ... that would expand to 300 MB
        parse_all(write(tmp_path, data))


def test_an_xlsx_that_lies_about_its_sizes(tmp_path: Path) -> None:
    """The zip directory claims a 1,000-byte sheet whose data inflates to 64 MB: reading stops at
    the claimed size, the checksum fails, and the workbook is refused as a BinaryFile."""
    data = bytearray(_workbook_with(SHEET, 64 << 20))
    name = SHEET.encode()
    # The uncompressed size sits at offset 24 of the central directory entry and 22 of the local header.
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    struct.pack_into("<I", data, central + 24, 1000)
    local = struct.unpack_from("<I", data, central + 42)[0]
    assert data[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, 1000)
    with pytest.raises(BinaryFile):
        parse_all(write(tmp_path, bytes(data)), "mt5_report_xlsx")


def test_unknown_format_names_the_headers_it_saw(tmp_path: Path) -> None:
    path = write(tmp_path, "Fecha,Valor,Cantidad,Comentario\n2026-01-01,1,2,x\n")
    with pytest.raises(UnknownFormat) as unknown:
        parse_all(path)
    assert unknown.value.code == "UnknownFormat"
    assert unknown.value.headers == ["Fecha", "Valor", "Cantidad", "Comentario"]
    assert "Fecha, Valor, Cantidad, Comentario" in unknown.value.detail
    assert "import-template.md" in unknown.value.detail


def test_unknown_html_and_workbook(tmp_path: Path) -> None:
    html = write(tmp_path, "<html><body><table><tr><td>Alpha</td><td>Beta</td></tr></table></body></html>")
    with pytest.raises(UnknownFormat):
        parse_all(html)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Gamma", "Delta"])
    sheet.append([1, 2])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    with pytest.raises(UnknownFormat) as unknown:
        parse_all(path)
    assert unknown.value.headers == ["Gamma", "Delta"]


def test_html_the_standard_parser_asserts_on(tmp_path: Path) -> None:
    # html.parser raises AssertionError on an unknown marked section; we answer with a typed error.
    html = (FIXTURES / "mt4_statement.html").read_text().replace("<tr align=left><td colspan=13>", "<![foo[x]]>", 1)
    path = write(tmp_path, html)
    with pytest.raises(ImportFileError):
        parse_all(path, "mt4_statement_html")
    with pytest.raises(ImportFileError):
        parse_all(path)


@pytest.mark.parametrize(
    "fixture",
    ["ibkr_flex.csv", "ibkr_activity.csv", "mt5_report.html", "mt5_report.xlsx", "mt4_statement.html",
     "thinkorswim.csv", "schwab.csv", "robinhood.csv", "webull.csv", "tradovate.csv", "ninjatrader_us.csv",
     "template.csv"],
)  # fmt: skip
def test_an_unknown_account_time_zone_is_the_files_error(fixture: str) -> None:
    with pytest.raises(UnknownTimeZone) as error:
        parse_all(FIXTURES / fixture, options=ParseOptions(timezone="Mars/Olympus"))
    assert error.value.code == "UnknownTimeZone"


def test_html_with_a_superscript_colspan(tmp_path: Path) -> None:
    # Found by the fuzz target: "¹".isdigit() is true, int("¹") fails.
    html = (FIXTURES / "mt4_statement.html").read_text().replace("<td colspan=13>", '<td colspan="¹">')
    rows = parse_all(write(tmp_path, html))
    assert len([r for r in rows if isinstance(r, ParsedRow)]) == 5
