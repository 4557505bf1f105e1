"""Every known format, found by walking ``tj_imports.formats.parsers``; detection by content."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tj_imports.formats import parsers as parsers_package
from tj_imports.formats.base import (
    FormatParser,
    ImportFileError,
    ParseOptions,
    ParseResult,
    Source,
    StreamItem,
    UnknownFormat,
    rows_of,
)


@cache
def all_parsers() -> dict[str, FormatParser]:
    """name -> parser instance, for every concrete parser class in the parsers package."""
    for module in pkgutil.iter_modules(parsers_package.__path__):
        importlib.import_module(f"{parsers_package.__name__}.{module.name}")
    found: dict[str, FormatParser] = {}
    stack: list[type[FormatParser]] = list(FormatParser.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "__abstractmethods__", None):
            continue
        if cls.name in found:
            raise RuntimeError(f"two parsers are named {cls.name!r}")
        found[cls.name] = cls()
    return dict(sorted(found.items()))


def detect(source: Source) -> FormatParser:
    """The format whose signature fits the file best; :class:`UnknownFormat` naming the headers seen."""
    best: tuple[int, str] | None = None
    for name, parser in all_parsers().items():
        if parser.family == "xlsx" and source.kind != "xlsx":
            continue
        if parser.family != "xlsx" and source.kind == "xlsx":
            continue
        try:
            score = parser.sniff(source)
        except ImportFileError:
            score = 0
        if score > 0 and (best is None or score > best[0]):
            best = (score, name)
    if best is None:
        raise UnknownFormat([c for c in source.header_cells() if c][:30])
    return all_parsers()[best[1]]


def parser_named(name: str) -> FormatParser:
    try:
        return all_parsers()[name]
    except KeyError:
        raise UnknownFormat([]) from None


def parse_file(
    path: Path, options: ParseOptions | None = None, format_name: str | None = None
) -> tuple[FormatParser, Iterator[ParseResult]]:
    """Open, detect (unless ``format_name`` is given) and stream the rows of one file."""
    source, parser = _opened(path, format_name)
    return parser, rows_of(parser.parse(source, options or ParseOptions()))


def stream_file(
    path: Path, options: ParseOptions | None = None, format_name: str | None = None
) -> tuple[FormatParser, Iterator[StreamItem]]:
    """As :func:`parse_file`, through the parser's :meth:`~FormatParser.stream`: what the import
    pipeline reads (runs of rows may come as row blocks)."""
    source, parser = _opened(path, format_name)
    return parser, rows_of(parser.stream(source, options or ParseOptions()))


def _opened(path: Path, format_name: str | None) -> tuple[Source, FormatParser]:
    source = Source.open(path)
    return source, parser_named(format_name) if format_name else detect(source)
