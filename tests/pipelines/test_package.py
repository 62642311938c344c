"""The code bundle every cloud uploads: content-addressed, the same files everywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines import get_pipeline
from pipelines.package import CodeBundle, bundle


def test_digest_is_sha256_over_names_and_contents_in_name_order(tmp_path: Path):
    (tmp_path / "b.py").write_text("print('b')\n")
    code = CodeBundle("toy", {"b.py": tmp_path / "b.py", "a.txt": "generated\n"})
    expected = hashlib.sha256(b"a.txt\0generated\n\0b.py\0print('b')\n\0").hexdigest()[:12]
    assert code.digest == expected
    assert code.prefix == f"code/toy/{expected}/"
    assert list(code.files) == ["a.txt", "b.py"]


def test_any_change_gives_a_new_prefix(tmp_path: Path):
    (tmp_path / "x.py").write_text("x = 1\n")
    before = CodeBundle("toy", {"x.py": tmp_path / "x.py"}).digest
    (tmp_path / "x.py").write_text("x = 2\n")
    assert CodeBundle("toy", {"x.py": tmp_path / "x.py"}).digest != before
    assert (
        CodeBundle("toy", {"y.py": tmp_path / "x.py"}).digest != CodeBundle("toy", {"x.py": tmp_path / "x.py"}).digest
    )


def test_pipeline_bundle_holds_every_step_script_and_the_requirements(tmp_path: Path):
    pipeline = get_pipeline("churn")
    code = bundle(pipeline)
    assert {step.script for step in pipeline.steps} | {"requirements.txt", "serve.py"} <= set(code.files)
    assert not any(name.startswith("_") for name in code.files)
    written = code.write(tmp_path / "code")
    assert sorted(p.name for p in written.iterdir()) == sorted(code.files)


def test_a_kit_file_may_not_shadow_a_pipeline_file():
    with pytest.raises(ValueError, match="'train.py' is both a file of pipeline 'churn'"):
        bundle(get_pipeline("churn"), {"train.py": "print('kit')\n"})
