"""The plan-time cache serves a text only while everything it was built from is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers import cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLOPS_NO_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A provider-like folder of kit code inside the project root (keys name sources relative to it)."""
    folder = tmp_path / "kit_src"
    folder.mkdir()
    (folder / "builder.py").write_text("VERSION = 1\n")
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    return folder


class Builder:
    def __init__(self, text: str = "built") -> None:
        self.calls = 0
        self.text = text

    def __call__(self) -> str:
        self.calls += 1
        return f"{self.text}-{self.calls}"


def test_a_second_build_with_the_same_inputs_is_served_from_the_cache(store, source):
    build = Builder()
    first = cache.cached_text("definition", {"a": 1}, build, distributions=["pytest"], sources=[source])
    second = cache.cached_text("definition", {"a": 1}, build, distributions=["pytest"], sources=[source])
    assert (first, second, build.calls) == ("built-1", "built-1", 1)
    assert len(list((store / "definition").glob("*.json"))) == 1


def test_a_changed_input_is_a_miss(store, source):
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    assert cache.cached_text("definition", {"a": 2}, build, distributions=[], sources=[source]) == "built-2"


def test_an_edited_source_file_is_a_miss(store, source):
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    (source / "builder.py").write_text("VERSION = 2  # edited\n")
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source]) == "built-2"


@pytest.mark.parametrize(
    "edited",
    ["providers/spec.py", "providers/aws/translate.py", "pipelines/spec.py", "pipelines/churn/steps/train.py"],
)
def test_an_edit_anywhere_in_the_kit_is_a_miss_whatever_the_caller_names(store, tmp_path, monkeypatch, edited):
    """The kit's own code is in every key: a builder whose caller named only its own folder (or
    none) is still rebuilt after an edit to `pipelines/` or another provider module it imports. The
    AWS definition's key once named only `providers/aws/` and the pipeline's folder, so an edited
    `pipelines/spec.py` was served the old definition."""
    for name in (
        "providers/spec.py",
        "providers/aws/translate.py",
        "pipelines/spec.py",
        "pipelines/churn/steps/train.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("VERSION = 1\n")
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    build = Builder()
    own = [tmp_path / "providers" / "aws"]
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=own) == "built-1"
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[]) == "built-2"
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=own) == "built-1"
    (tmp_path / edited).write_text("VERSION = 2  # edited\n")
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=own) == "built-3"
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[]) == "built-4"


def test_another_sdk_version_is_a_miss(store, source, monkeypatch):
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=["pytest"], sources=[source])
    monkeypatch.setattr(cache, "_version", lambda distribution: "999.0")
    assert cache.cached_text("definition", {"a": 1}, build, distributions=["pytest"], sources=[source]) == "built-2"


def test_a_torn_entry_is_rebuilt_and_replaced(store, source):
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    (entry,) = (store / "definition").glob("*.json")
    entry.write_text('{"key": "trunc')
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source]) == "built-2"
    assert json.loads(entry.read_text())["text"] == "built-2"


def test_an_entry_under_another_key_is_never_served(store, source):
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    (entry,) = (store / "definition").glob("*.json")
    entry.write_text(json.dumps({"key": "0" * 64, "text": "someone else's"}))
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source]) == "built-2"


def test_mlops_no_cache_builds_every_time(store, source, monkeypatch):
    monkeypatch.setenv("MLOPS_NO_CACHE", "1")
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source])
    assert build.calls == 2
    assert not store.exists()


def test_an_unwritable_cache_still_builds(source, monkeypatch, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("MLOPS_CACHE_DIR", str(blocker))
    assert cache.cached_text("definition", {"a": 1}, Builder(), distributions=[], sources=[source]) == "built-1"


def test_the_default_cache_is_git_ignored():
    assert ".mlops/" in (ROOT / ".gitignore").read_text().split()


def test_a_source_folder_outside_the_project_is_keyed_by_its_absolute_path(store, source, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "steps.py").write_text("x = 1\n")
    build = Builder()
    cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source, outside])
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source, outside]) == "built-1"
    (outside / "steps.py").write_text("x = 2\n")
    assert cache.cached_text("definition", {"a": 1}, build, distributions=[], sources=[source, outside]) == "built-2"
