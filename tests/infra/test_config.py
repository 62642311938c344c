"""infra/config.py: stack files read as Pulumi reads them, found as Pulumi finds them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main
from infra.config import find_stack_file, load_stack_file, read_yaml, resolve_file
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "Pulumi.aws-dev.yaml").read_text(encoding="utf-8")


def stack(tmp_path: Path, text: str, name: str = "Pulumi.t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_line(after: str, line: str) -> str:
    """The example stack with `line` inserted after the first line containing `after`."""
    lines = EXAMPLE.splitlines()
    i = next(n for n, text in enumerate(lines) if after in text)
    return "\n".join([*lines[: i + 1], line, *lines[i + 1 :]]) + "\n"


# --- YAML 1.2, as Pulumi reads stack files ---------------------------------------------------------


def test_yaml_1_2_no_is_a_string_not_false(tmp_path):
    path = stack(tmp_path, with_line("tags:", "    protect_data: no"))
    assert load_stack_file(path).config["mlops:platform"]["protect_data"] == "no"
    with pytest.raises(SpecError) as info:
        resolve_file(load_stack_file(path))
    assert info.value.key == "mlops:platform.protect_data"


def test_yaml_1_2_leading_zero_is_decimal(tmp_path):
    text = EXAMPLE.replace("model_version: 1", "model_version: 010")
    assert load_stack_file(stack(tmp_path, text)).config["mlops:platform"]["endpoint"]["model_version"] == 10


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        (
            EXAMPLE.replace("max_replicas: 4", "max_replicas: 4\n      max_replicas: 40"),
            "mlops:platform.endpoint.max_replicas",
            "35 and 36",
        ),
        (EXAMPLE.replace("mlops:cloud: aws", "mlops:cloud: aws\n  mlops:cloud: gcp"), "mlops:cloud", "2 and 3"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_path(tmp_path, capsys, text, key, lines):
    path = stack(tmp_path, text)
    assert main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and f"duplicate key (lines {lines})" in err and err.count("\n") == 1


def test_anchors_within_the_size_cap_still_work(tmp_path):
    text = with_line("tags:", "    network: &net {public_access: false}").replace(
        "    registry:", "    x_copy: *net\n    registry:"
    )
    # The alias is read (its value repeated); the unknown platform key is then the spec's business.
    with pytest.raises(SpecError, match="x_copy: unknown key"):
        resolve_file(load_stack_file(stack(tmp_path, text)))


BOMB = (
    "config:\n  a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(f"  {n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
)


def test_an_alias_bomb_is_refused_in_one_line(tmp_path):
    path = stack(tmp_path, BOMB)
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a guard, not a measurement: expanding it would take minutes and gigabytes
    )
    assert proc.returncode == 2
    assert "expands to more than 100,000 values (YAML aliases repeat nodes)" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "config:\n  mlops:platform: &p\n    name: x\n    self: *p\n",
            "a YAML alias refers to a node that contains it",
        ),
        ("config:\n  x: " + "[" * 200 + "]" * 200 + "\n", "nests deeper than 64 levels"),
        ("config: [1, 2]\n", "must be a mapping"),
        ("config:\n  mlops:cloud: [aws\n", "is not valid YAML at line"),
        ("---\nconfig: {}\n---\nconfig: {}\n", "is not valid YAML"),
        ("config:\n  mlops:when: 2024-01-01\n", "is not a plain value: quote it"),
        ("config:\n  mlops:cloud: !!binary aGVsbG8=\n", "is not a plain value"),
    ],
)
def test_odd_yaml_is_one_line_exit_2(tmp_path, capsys, text, rule):
    path = stack(tmp_path, text)
    assert main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert rule in err and err.count("\n") == 1


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    path = stack(tmp_path, "config:\n  mlops:x: '" + "a" * (2 << 20) + "'\n")
    with pytest.raises(SpecError, match="a stack file is at most 1,048,576"):
        read_yaml(path)


# --- unknown keys, secrets in plain text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("mlops:plaform", "mlops:plaform: unknown key, did you mean mlops:platform?"),
        ("mlops:clouds", "mlops:clouds: unknown key, did you mean mlops:cloud?"),
        ("mlops:team", "mlops:team: unknown key, the kit reads mlops:cloud and mlops:platform"),
        ("team", "mlops:team: unknown key"),  # unqualified keys are the project's
    ],
)
def test_unknown_mlops_key_is_refused(tmp_path, capsys, key, message):
    path = stack(tmp_path, with_line("mlops:cloud", f"  {key}: x"))
    assert main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("  mlops:db_password: hunter2", "mlops:db_password"),
        ("  aws:secretKey: abc", "aws:secretKey"),
        ("  mlops:deploy_token: AKIAABCDEFGHIJKLMNOP", "mlops:deploy_token"),
    ],
)
def test_secret_looking_plain_values_warn_and_stay_valid(tmp_path, capsys, line, key):
    path = stack(tmp_path, with_line("mlops:cloud", line))
    assert main(["validate", "--config-file", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"mlops: warning: {key}: looks like a secret in plain text" in err
    assert f"pulumi config set --secret '{key}' VALUE" in err


def test_a_password_in_a_tag_warns_with_the_path(tmp_path, capsys):
    path = stack(tmp_path, EXAMPLE.replace("tags: {team: ml-platform}", "tags: {team: ml-platform, db_password: x1}"))
    assert main(["validate", "--config-file", str(path)]) == 0
    err = capsys.readouterr().err
    assert "mlops:platform.tags.db_password: looks like a secret" in err
    assert "pulumi config set --secret --path 'mlops:platform.tags.db_password' VALUE" in err


def test_encrypted_values_do_not_warn(tmp_path, capsys):
    path = stack(tmp_path, with_line("mlops:cloud", "  mlops:db_password:\n    secure: AAABAcipher"))
    assert main(["validate", "--config-file", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


# --- finding stack files as Pulumi does ------------------------------------------------------------


def test_stack_found_from_a_subdirectory_and_fully_qualified(monkeypatch):
    monkeypatch.chdir(ROOT / "docs")
    assert find_stack_file("aws-dev") == ROOT / "Pulumi.aws-dev.yaml"
    assert find_stack_file("acme/mlops/aws-dev") == ROOT / "Pulumi.aws-dev.yaml"
    with pytest.raises(SpecError, match="project 'other' is not this project"):
        find_stack_file("acme/other/aws-dev")
    with pytest.raises(SpecError, match="must be a stack name or org/project/stack"):
        find_stack_file("a/b/c/d")


def test_a_missing_stack_lists_the_existing_ones(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["validate", "--stack", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--stack: no stack file Pulumi.nope.yaml in" in err
    assert "(stacks there: aws-dev, aws-fraud, azure-dev, azure-fraud, gcp-dev, gcp-fraud)" in err


def test_stack_config_dir_is_honoured(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.s1.yaml").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    assert find_stack_file("s1") == tmp_path / "stacks" / "Pulumi.s1.yaml"
