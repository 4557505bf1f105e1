"""Files we have no parser for, read through a column mapping (``ParseOptions.mapping``: our
field → the file's header). The import flow stores a user's mapping under the file's header
signature (:func:`header_signature`), so the next file with the same header needs no mapping.

Fields: ``date`` and ``time`` (or ``datetime``), ``timezone``, ``symbol``, ``side`` (optional: a
negative quantity is a sell), ``quantity``, ``price`` and the optional template fields. An
optional ``date_format`` entry gives the strptime format of the date (or date-time) cells; without
it, ISO dates and then day-first dates are tried (``03/04/2026`` is the 3rd of April). An optional
``decimal_separator`` (``.`` or ``,``) overrides the default: a comma for ``;``-separated files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from tj_imports.formats.base import (
    FormatParser,
    ImportFileError,
    ParseOptions,
    ParseResult,
    Source,
    iter_csv,
    iter_sheet_rows,
    norm,
)
from tj_imports.formats.parsers._global import blank, delimiter_of, drive, locate_header
from tj_imports.formats.parsers.generic import MAPPABLE_FIELDS, RowBuilder

DATE_FORMATS = [
    "%Y-%m-%d", "%Y/%m/%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%b-%Y", "%d %b %Y", "%d-%b-%y", "%Y%m%d",
]  # fmt: skip
TIME_FORMATS = ["%H:%M:%S", "%H:%M", "%H:%M:%S.%f", "%I:%M:%S %p", "%I:%M %p"]
OPTION_KEYS = {"date_format", "decimal_separator"}


class InvalidMapping(ImportFileError):
    code = "InvalidMapping"


def headers_of(source: Source) -> list[str]:
    """The file's header row as written: the first row with at least two non-empty cells."""
    return source.header_cells()


def header_signature(source: Source) -> str:
    """A stable fingerprint of the header (case, spacing and punctuation ignored): the key under
    which a user's column mapping is saved and found again."""
    keys = "\x1f".join(norm(h) for h in headers_of(source))
    return hashlib.sha256(keys.encode()).hexdigest()


def validate_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    if not mapping:
        raise InvalidMapping("a column mapping is required for this file")
    unknown = sorted(set(mapping) - set(MAPPABLE_FIELDS) - OPTION_KEYS)
    if unknown:
        raise InvalidMapping(f"unknown field(s) in the mapping: {', '.join(unknown)}")
    fields = {k: v for k, v in mapping.items() if k not in OPTION_KEYS and v}
    missing = [f for f in ("symbol", "quantity", "price") if f not in fields]
    if "datetime" not in fields and "date" not in fields:
        missing.append("date or datetime")
    if missing:
        raise InvalidMapping(f"the mapping must name a column for: {', '.join(missing)}")
    return fields


class MappedFile(FormatParser):
    """Never detected (sniff is 0): chosen by the import flow when a mapping is given or saved."""

    name = "mapped"
    label = "File read through a saved column mapping"
    broker = "generic"
    family = "csv"

    def sniff(self, source: Source) -> int:
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        fields = validate_mapping(options.mapping)
        self.zone(options)  # a bad account zone is the file's error, not every row's
        assert options.mapping is not None  # validated above
        date_format = options.mapping.get("date_format")
        aliases: dict[str, Sequence[str]] = {field: [header] for field, header in fields.items()}
        rows = self._rows(source)
        _, columns = locate_header(rows, aliases, list(fields), self.label)
        dates = [date_format] if date_format else DATE_FORMATS
        separator = options.mapping.get("decimal_separator")
        if separator not in {None, "", ".", ","}:
            raise InvalidMapping("decimal_separator must be '.' or ','")
        comma = separator == "," or (not separator and source.kind == "text" and delimiter_of(source) == ";")
        builder = RowBuilder(columns, dates, TIME_FORMATS, decimal_comma=comma)
        for line, row in rows:
            if blank(row):
                continue
            yield drive(builder.build, line, row, options)

    @staticmethod
    def _rows(source: Source) -> Iterator[tuple[int, Sequence[Any]]]:
        if source.kind == "xlsx":
            for _, sheet in iter_sheet_rows(source.path):
                yield from enumerate(sheet, start=1)
                return
        else:
            yield from iter_csv(source, delimiter=delimiter_of(source))
