"""Compiled builds of the trades service's CPU-bound modules (mypyc), used when present and current.

The projection prices and matches every execution of a large import in Python: the charges
engine, the round-trip engine and the encoding of their rows. Those modules are plain, fully typed
Python; mypyc (part of mypy, which the project already uses) compiles them to C extensions that
run the same code with less interpreter overhead: ~15 % less trades-service CPU for bench.ingest's
200,000-execution import. Nothing is rewritten: the sources stay the single definition, and the
pure-Python modules remain what runs when there is no build.

    python -m tj_trades.native_build          # compile MODULES into the build directory (`make native`)
    python -m tj_trades.native_build status   # which is in use, and why

The build lives outside the source tree (``services/trades/.native``, or ``TJ_NATIVE_DIR``), with a
stamp holding a digest of the sources it was compiled from. On the first import of ``tj_trades``,
:func:`install` puts a finder in front of the import system for exactly those modules, and only
if the stamp matches the sources as they are now and the running interpreter: a source edited
after the build runs as Python (a warning says so) until the next build. ``TJ_NATIVE=0`` turns
the build off, e.g. to step through the engines in a debugger.

Compiled code keeps Python's semantics with two differences that matter here: arguments are
checked against their annotations at run time (a wrong type raises TypeError instead of passing
through), and functions of a compiled module call each other directly (patching a module
attribute does not reach the module's own calls). The test suite runs against the build, and the
engines' unit tests run once more as pure Python (`make test`)."""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

# What is compiled: the engines, everything they call per execution, and the rows a refresh makes
# of their results. Not rates.py (a generic frozen dataclass mypyc cannot compile; it is read once
# per contract note), nor anything that talks to the database.
MODULES = (
    "tj_trades.domain.charges.rounding",
    "tj_trades.domain.charges.segments",
    "tj_trades.domain.charges.breakdown",
    "tj_trades.domain.charges.plans",
    "tj_trades.domain.charges.commission",
    "tj_trades.domain.charges.india",
    "tj_trades.domain.instruments",
    "tj_trades.domain.metrics",
    "tj_trades.domain.roundtrips",
    "tj_trades.tradebook",
    "tj_trades.pgarrays",
    "tj_trades.projection_rows",
)
GROUP = "tj_trades_native"  # the build's shared runtime library: tj_trades_native__mypyc
STAMP = "stamp.json"
_PACKAGE = Path(__file__).resolve().parent  # .../tj_trades
SOURCES = _PACKAGE.parent  # what holds tj_trades (src, or site-packages)

# Set by install(): whether the compiled modules are in use, and why (or why not).
active = False
reason = "not installed yet"


def build_dir() -> Path:
    """Where the build is (and goes): ``TJ_NATIVE_DIR``, else ``.native`` beside ``src``."""
    configured = os.environ.get("TJ_NATIVE_DIR")
    return Path(configured) if configured else SOURCES.parent / ".native"


def source_of(module: str, sources: Path = SOURCES) -> Path:
    """The source file of a module under ``sources`` (what holds the tj_trades package)."""
    return sources.joinpath(*module.split(".")).with_suffix(".py")


def digest(package: Path = _PACKAGE) -> str:
    """SHA-256 of every source the build depends on: the compiled modules and the rest of the
    domain package they import (a changed rate table loader is a changed build), with the
    interpreter's ABI tag."""
    sources = sorted({source_of(m, package.parent) for m in MODULES})
    sources += sorted(p for p in (package / "domain").rglob("*.py") if p not in sources)
    h = hashlib.sha256(sys.implementation.cache_tag.encode())
    for path in sources:
        h.update(b"\0" + path.relative_to(package.parent).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules (and their runtime library) in the build; nothing else."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        compiled = self.paths.get(fullname)
        if compiled is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(compiled))
        return importlib.util.spec_from_file_location(fullname, compiled, loader=loader)


def load_stamp(root: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def install() -> bool:
    """Put the build in front of the pure-Python modules if it is current (see the module doc);
    whether it is in use. Called once, by ``tj_trades/__init__.py``, before any of them loads."""
    global active, reason
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return active
    if os.environ.get("TJ_NATIVE", "1") == "0":
        active, reason = False, "off (TJ_NATIVE=0)"
        return False
    root = build_dir()
    stamp = load_stamp(root)
    if stamp is None:
        active, reason = False, f"no build in {root} (make native)"
        return False
    files = stamp.get("modules")
    if stamp.get("digest") != digest() or not isinstance(files, dict):
        active, reason = False, f"the build in {root} was compiled from other sources (make native)"
        log.warning("compiled modules not used: %s", reason)
        return False
    paths = {name: root / str(relative) for name, relative in files.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing or set(MODULES) - set(paths):
        active, reason = False, f"the build in {root} is incomplete (make native)"
        log.warning("compiled modules not used: %s", reason)
        return False
    sys.meta_path.insert(0, _Finder(paths))
    active, reason = True, f"compiled build in {root}"
    return True
