"""The one YAML reader: safe, fast and bounded, with one-line errors naming the file and line.

* libyaml's C parser (``yaml.CSafeLoader``) when PyYAML was built with it (10–30× faster than
  the pure-Python loader), the pure-Python ``SafeLoader`` otherwise;
* a size limit (:data:`MAX_BYTES`) and, for documents with aliases, a nesting limit
  (:data:`MAX_DEPTH`) and a limit on the size of the document with every alias expanded
  (:data:`MAX_EXPANDED_NODES`) — a "billion laughs" alias bomb is refused after composing its
  few hundred nodes, before anything walks it (libyaml caps nesting at 1,000 levels itself);
* duplicate mapping keys are an error (plain PyYAML silently keeps the last one);
* binary, UTF-16 and other non-UTF-8 files get one clear line;
* :func:`read_yaml_cached` parses a file once per (path, size, mtime) — for the catalogs —
  and keeps the parsed data in the user's cache directory between runs.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import re
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import GigatrainError

MAX_BYTES = 16 * 2**20  # a catalog is ~100 kB; a claim or roadmap file a few kB
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 1_000_000
_VERSION = "1"  # bump when the parsed form of a file changes (loader rules)


@lru_cache(maxsize=1)
def _loader_class() -> type:
    """Safe loader (C parser when available) that rejects duplicate mapping keys. Built on first
    use: PyYAML's import compiles regexes, which a run served from the cache never needs."""
    import yaml

    base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]  # a base chosen at run time (C or Python loader)
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            pairs = list(node.value)  # before merge keys (<<) are flattened into it
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            merges = any(k.tag == "tag:yaml.org,2002:merge" for k, _ in pairs)
            if merges or len(mapping) != len(pairs):  # a key was overwritten: find and name it
                self._refuse_duplicates(pairs, deep)
            return mapping

        def _refuse_duplicates(self, pairs: list[tuple[Any, Any]], deep: bool) -> None:
            seen: set[Any] = set()
            for key_node, _ in pairs:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    dup = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: SafeConstructor has already refused it
                    continue
                if dup:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )

    return Loader


#: an alias token: ``*name`` after a line start, space, flow indicator or mapping colon
_ALIAS = re.compile(r"(?:^|[\s\[{,:])\*[^\s,\[\]{}]", re.MULTILINE)


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, list):  # a mapping's (key, value) pairs or a sequence's items
        return (
            [n for pair in value for n in pair] if value and isinstance(value[0], tuple) else value
        )
    return []  # a scalar


def _check_shape(node: Any, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and documents whose alias expansion exceeds
    MAX_EXPANDED_NODES; linear in the composed (unexpanded) node count."""
    expanded: dict[int, int] = {}
    # iterative post-order walk: (node, depth, children visited?)
    stack: list[tuple[Any, int, bool]] = [(node, 1, False)]
    on_path: set[int] = set()
    while stack:
        n, depth, done = stack.pop()
        key = id(n)
        if done:
            on_path.discard(key)
            total = 1 + sum(expanded[id(c)] for c in _children(n))
            if total > MAX_EXPANDED_NODES:
                raise GigatrainError(
                    f"{name}: expands to more than {MAX_EXPANDED_NODES:,} values through "
                    "YAML aliases (*name); refusing it (an alias bomb?)"
                )
            expanded[key] = total
            continue
        if key in expanded:
            continue
        if depth > MAX_DEPTH:
            raise GigatrainError(f"{name}: nested deeper than {MAX_DEPTH} levels; refusing it")
        if key in on_path:
            raise GigatrainError(f"{name}: a YAML alias refers to its own parent (recursive)")
        on_path.add(key)
        stack.append((n, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(n) if id(c) not in expanded)


def _decode(data: bytes, name: str, what: str) -> str:
    """UTF-8 text, or one line saying what the bytes look like instead."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise GigatrainError(f"{what} {name} is UTF-16 text; save it as UTF-8")
    if b"\x00" in data[:4096]:
        raise GigatrainError(f"{what} {name} looks binary (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GigatrainError(
            f"{what} {name} is not UTF-8 text (bad byte at offset {e.start})"
        ) from None


def parse_yaml(text: str, name: str = "<text>") -> Any:
    """Parse YAML ``text`` (``name`` labels errors) under the limits of this module."""
    if len(text) > MAX_BYTES:
        raise GigatrainError(f"{name}: {len(text):,} characters exceeds the {MAX_BYTES:,} limit")
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _ALIAS.search(text):  # only aliases can expand; the C parser caps nesting itself
            _check_shape(node, name)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise GigatrainError(f"{name}: invalid YAML{at}: {problem}") from None
    except RecursionError:
        raise GigatrainError(f"{name}: nested too deeply; refusing it") from None
    finally:
        loader.dispose()


def read_text(path: Path | str, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``, refusing files over ``max_bytes``, binary and UTF-16 files."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise GigatrainError(
                f"{what} {p} is {size / 2**20:,.1f} MiB; the limit is {max_bytes / 2**20:,.0f} MiB"
            )
        data = p.read_bytes()
    except OSError as e:
        raise GigatrainError(f"cannot read {what} {p}: {e.strerror or e}") from None
    return _decode(data, str(p), what)


def read_yaml(path: Path | str, what: str = "file") -> Any:
    """Safe YAML of ``path``; unreadable, oversized or malformed input raises GigatrainError."""
    p = Path(path)
    return parse_yaml(read_text(p, what), p.name)


def _cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/gigatrain`` (``~/.cache/gigatrain``), or None when disabled
    (``GIGATRAIN_NO_CACHE=1``) or not usable."""
    if os.environ.get("GIGATRAIN_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gigatrain"


def _trusted(path: Path) -> bool:
    """A cache file we wrote: owned by this user, writable by no one else."""
    try:
        st = path.stat()
    except OSError:
        return False
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid  # no owners on Windows
    return st.st_uid == uid and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _disk_cached(path: str, size: int, mtime_ns: int, what: str) -> Any:
    """:func:`read_yaml` through an on-disk pickle of the parsed data, keyed by the file's
    path, size and mtime and the gigatrain/PyYAML versions. A catalog is parsed once per
    version instead of on every command (~0.1 s of a cold start). Only files this user wrote
    (mode 0600 in a 0700 directory) are read back; any problem falls back to parsing."""
    cache = _cache_dir()
    if cache is None:
        return read_yaml(path, what)
    key = hashlib.sha256(f"{path}|{size}|{mtime_ns}|{_VERSION}".encode())
    file = cache / f"yaml-{key.hexdigest()[:32]}.pickle"
    if _trusted(file) and _trusted(cache):
        try:
            with open(file, "rb") as f:
                return pickle.load(f)
        except Exception:  # a truncated or stale file: parse again and rewrite it
            pass
    data = read_yaml(path, what)
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")  # created 0600
        with os.fdopen(fd, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
    except OSError:  # read-only home, full disk: caching is only an optimisation
        pass
    return data


@lru_cache(maxsize=64)
def _cached(path: str, size: int, mtime_ns: int, what: str) -> Any:
    return _disk_cached(path, size, mtime_ns, what)


def read_yaml_cached(path: Path | str, what: str = "file") -> Any:
    """:func:`read_yaml`, parsed once per (path, size, mtime); returns a deep copy so callers
    may mutate what they get."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise GigatrainError(f"cannot read {what} {p}: {e.strerror or e}") from None
    return copy.deepcopy(_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, what))
