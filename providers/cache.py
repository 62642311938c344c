"""A content-addressed cache for what a vendor SDK builds at plan time (a SageMaker pipeline
definition, a compiled KFP spec, an Azure ML job body).

Building those means importing the SDK (seconds) and running its builder; the result is a pure
function of the builder's inputs, the SDK's version and the kit's own code. The key is a sha256
over all three, so a hit is the text the SDK would build again, and any change (an input, an
upgraded SDK, an edited provider module) is a miss that the SDK builds. Nothing is ever served from
a key that leaves one of them out: the kit's own code (`providers/` and `pipelines/`, whole) is in
every key, so no caller can forget a folder its builder reads; callers name the distributions and
any source folder outside the kit (a pipeline kept elsewhere).

Entries live under `$MLOPS_CACHE_DIR`, else `.mlops/cache/` at the project root (git-ignored);
`MLOPS_NO_CACHE=1` turns the cache off. A torn or unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FORMAT = 1  # bump when the entry layout changes


def cache_dir() -> Path:
    return Path(os.environ.get("MLOPS_CACHE_DIR") or ROOT / ".mlops" / "cache")


def enabled() -> bool:
    return os.environ.get("MLOPS_NO_CACHE", "").strip().lower() not in ("1", "true", "yes")


@cache
def _version(distribution: str) -> str:
    """An installed distribution's version (read once per process: nothing installs mid-plan)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=64)
def _tree_digest(folder: str, mtimes: tuple[tuple[str, int, int], ...]) -> str:
    sha = hashlib.sha256()
    for name, _, _ in mtimes:
        sha.update(name.encode())
        sha.update(b"\0")
        sha.update((Path(folder) / name).read_bytes())
        sha.update(b"\0")
    return sha.hexdigest()


def source_digest(folder: Path) -> str:
    """sha256 over every `.py`/`.json`/`.txt`/`.sh` file under `folder` (names and contents)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".py", ".json", ".txt", ".sh") and "__pycache__" not in p.parts
    )
    stamps = tuple((str(p.relative_to(folder)), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _tree_digest(str(folder), stamps)


def _where(folder: Path) -> str:
    """A source folder's name in the key: relative to the project (the same in every checkout), or
    absolute for a folder outside it (a pipeline kept elsewhere)."""
    resolved = folder.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


KIT_SOURCES = ("providers", "pipelines")
"""The kit's own code, under the project root: in every key, whatever the caller names."""


def key(kind: str, inputs: Any, distributions: Iterable[str], sources: Iterable[Path] = ()) -> str:
    """The entry's name: everything the built text depends on, hashed."""
    folders = {_where(Path(s)): Path(s) for s in sources}
    for name in KIT_SOURCES:
        folders[name] = ROOT / name
    material = {
        "format": FORMAT,
        "kind": kind,
        "inputs": inputs,
        "versions": {d: _version(d) for d in sorted(distributions)},
        "sources": {where: source_digest(folder) for where, folder in sorted(folders.items())},
    }
    text = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_text(
    kind: str,
    inputs: Mapping[str, Any] | Any,
    build: Callable[[], str],
    *,
    distributions: Iterable[str],
    sources: Iterable[Path] = (),
) -> str:
    """`build()`'s text, from the cache when everything it depends on is unchanged.

    `inputs` must be JSON-serialisable (anything else is stringified) and hold every value `build`
    reads; `distributions` the installed packages whose version changes its output (the vendor
    SDK); `sources` folders of code it runs outside the kit's own (which every key holds).
    """
    if not enabled():
        return build()
    name = key(kind, inputs, distributions, sources)
    entry = cache_dir() / kind / f"{name}.json"
    try:
        stored = json.loads(entry.read_text())
        if stored.get("key") == name and isinstance(stored.get("text"), str):
            return stored["text"]
    except (OSError, ValueError):
        pass
    text = build()
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump({"key": name, "kind": kind, "text": text}, handle)
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only checkout plans as before, only slower
    return text
