"""Compiles the modules of :mod:`tj_trades._native` with mypyc (``make native``); see there.

    python -m tj_trades.native_build [build [--force] [DIR]]   # compile into DIR unless up to date
    python -m tj_trades.native_build status                    # whether the build is in use, and why

Needs the development tools (mypy, setuptools) and a C compiler (gcc)."""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tj_common
from tj_trades import _native
from tj_trades._native import GROUP, MODULES, SOURCES, STAMP, build_dir, digest, source_of


def build(root: Path | None = None) -> Path:
    """Compile MODULES with mypyc into ``root`` (the build directory) and stamp it; the directory.

    Needs the development tools (mypy, setuptools) and a C compiler. The new build replaces the old
    one whole, and the stamp is written last: an interrupted build leaves no stamp, so nothing uses
    it."""
    from mypyc.build import mypycify  # development dependency: only the build needs it
    from setuptools import Distribution  # type: ignore[import-untyped]

    root = (root or build_dir()).resolve()
    with tempfile.TemporaryDirectory(prefix="tj-native-") as tmp:
        staged = Path(tmp) / "out"
        # The sources compiled from a copy (tj_trades, and tj_common for the type analysis): the same
        # build whether they are a checkout's or installed in site-packages, where mypy would take
        # every other installed module for one of ours.
        src = Path(tmp) / "src"
        skip = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")
        shutil.copytree(SOURCES / "tj_trades", src / "tj_trades", ignore=skip)
        shutil.copytree(Path(tj_common.__file__).resolve().parent, src / "tj_common", ignore=skip)
        source_digest = digest(src / "tj_trades")  # of what is compiled
        cwd = os.getcwd()
        os.chdir(src)  # module names from the paths: tj_trades/... relative to src
        try:
            paths = [source_of(m).relative_to(SOURCES).as_posix() for m in MODULES]
            extensions = mypycify(
                ["--explicit-package-bases", *paths],
                opt_level="3",
                target_dir=str(Path(tmp) / "c"),
                group_name=GROUP,
            )
            dist = Distribution({"name": GROUP, "ext_modules": extensions})
            command = dist.get_command_obj("build_ext")
            command.build_lib = str(staged)
            command.build_temp = str(Path(tmp) / "o")
            command.parallel = os.cpu_count() or 1
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        modules: dict[str, str] = {}
        for compiled in staged.rglob("*"):
            if compiled.name.endswith(suffixes):
                relative = compiled.relative_to(staged).as_posix()
                name = relative.split(".", 1)[0].replace("/", ".")
                modules[name] = relative
        missing = set(MODULES) - set(modules)
        if missing:
            raise RuntimeError(f"mypyc built no extension for {sorted(missing)}")
        (staged / STAMP).write_text(
            json.dumps({"digest": source_digest, "python": sys.version, "modules": modules}, indent=1),
            encoding="utf-8",
        )
        # Copied beside the old build (the stamp last: a copy cut short is no build), then swapped.
        fresh, old = root.with_name(root.name + ".new"), root.with_name(root.name + ".old")
        for leftover in (fresh, old):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(staged, fresh, ignore=shutil.ignore_patterns(STAMP))
        shutil.copy2(staged / STAMP, fresh / STAMP)
        if root.exists():
            root.rename(old)
        fresh.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    return root


def current(root: Path) -> bool:
    """Whether ``root`` holds a build of the sources as they are, for this interpreter."""
    stamp = _native.load_stamp(root)
    return stamp is not None and stamp.get("digest") == digest() and stamp.get("python") == sys.version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tj_trades.native_build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    build_command = commands.add_parser("build", help="compile into DIR unless it is up to date (the default)")
    build_command.add_argument("dir", nargs="?", type=Path, help="default: the build directory (TJ_NATIVE_DIR)")
    build_command.add_argument("--force", action="store_true", help="compile even if up to date")
    commands.add_parser("status", help="whether the build is in use, and why")
    args = parser.parse_args(argv)
    if args.command == "status":
        print(f"{'on' if _native.active else 'off'}: {_native.reason}")
        return 0
    root = getattr(args, "dir", None) or build_dir()
    if not getattr(args, "force", False) and current(root):
        print(f"{root}: up to date")
        return 0
    build(root)
    print(f"compiled {len(MODULES)} modules into {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
