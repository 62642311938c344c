"""infra/config.py called directly: the exact key and rule of every refusal, at each limit's edge.

`tests/infra/test_config.py` goes through the CLI and checks that a message is in one line of
stderr; these check the `SpecError(key, rule)` itself (a key that lost its path, or a limit moved
by one, fails here), with every expected value written out. Fast: the tests
`scripts/mutation.py --only config` runs per mutant.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra import config as config_module
from infra.config import (
    StackFile,
    find_project_root,
    find_stack_file,
    load_stack_file,
    pulumi_getter,
    read_yaml,
    resolve,
    resolve_file,
    secret_warnings,
    stack_files,
    stack_name_from_path,
)
from providers.base import Limitation, Provider
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text(encoding="utf-8"))["config"]["mlops:platform"]


def _refusal(call, *args: Any) -> tuple[str, str]:
    with pytest.raises(SpecError) as raised:
        call(*args)
    return raised.value.key, raised.value.rule


def _file(tmp_path: Path, text: str | bytes, name: str = "Pulumi.s.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- reading the file -------------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "Pulumi.gone.yaml"
    assert _refusal(read_yaml, path) == (str(path), "no such stack file")


def test_a_file_of_exactly_one_mebibyte_is_read_one_byte_more_is_refused(tmp_path):
    body = "config: {}\n#"
    path = _file(tmp_path, body + "x" * (1_048_576 - len(body) - 1) + "\n")
    assert path.stat().st_size == 1_048_576
    assert read_yaml(path) == {"config": {}}
    path = _file(tmp_path, body + "x" * (1_048_576 - len(body)) + "\n")
    assert _refusal(read_yaml, path) == (str(path), "is 1,048,577 bytes; a stack file is at most 1,048,576")


def test_text_that_is_not_utf8_is_refused_and_utf8_text_is_read(tmp_path):
    path = _file(tmp_path, b"config:\n  aws:region: \xff\n")
    assert _refusal(read_yaml, path) == (str(path), "is not UTF-8 text")
    path = _file(tmp_path, "config:\n  mlops:note: caf\u00e9 \u2713\n".encode())
    assert read_yaml(path) == {"config": {"mlops:note": "caf\u00e9 \u2713"}}


def test_invalid_yaml_names_the_line_or_nothing_when_the_reader_has_no_line(tmp_path):
    path = _file(tmp_path, "config:\n  aws:region: eu-west-1\n  bad: [unclosed\n")
    assert _refusal(read_yaml, path) == (str(path), "is not valid YAML at line 4")
    # A control character stops the reader before any line is known.
    path = _file(tmp_path, "config:\n  aws:region: \x07\n")
    assert _refusal(read_yaml, path) == (str(path), "is not valid YAML")


def test_an_empty_file_is_nothing(tmp_path):
    assert read_yaml(_file(tmp_path, "")) is None
    assert load_stack_file(_file(tmp_path, "# nothing\n")).config == {}


def test_yaml_1_2_is_read_as_pulumi_reads_it(tmp_path):
    path = _file(tmp_path, "a: no\nb: 010\nc: on\nd: 0o10\n")
    assert read_yaml(path) == {"a": "no", "b": 10, "c": "on", "d": 8}
    assert type(read_yaml(path)) is dict  # plain values, not the round-trip reader's


# --- nesting, aliases, duplicates ---------------------------------------------------------------------


def _nested(depth: int) -> str:
    # root mapping (depth 0) -> config (1) -> the value of `k` (2) ... the innermost list at depth + 1
    return "config:\n  k: " + "[" * depth + "]" * depth + "\n"


def test_nesting_is_refused_past_64_levels_naming_where(tmp_path):
    assert read_yaml(_file(tmp_path, _nested(63)))["config"]["k"] is not None
    path = _file(tmp_path, _nested(64))
    assert _refusal(read_yaml, path) == (f"{path}: k" + "[0]" * 63, "nests deeper than 64 levels")


def test_nesting_too_deep_for_the_reader_itself_is_refused_in_one_line(tmp_path):
    path = _file(tmp_path, _nested(1000))
    assert _refusal(read_yaml, path) == (str(path), "nests deeper than 64 levels")


def test_a_recursive_alias_is_refused(tmp_path):
    path = _file(tmp_path, "config:\n  mlops:platform: &p\n    tags: *p\n")
    assert _refusal(read_yaml, path) == (
        f"{path}: mlops:platform.tags",
        "a YAML alias refers to a node that contains it",
    )
    path = _file(tmp_path, "&r [*r]\n")
    assert _refusal(read_yaml, path) == (f"{path}: [0]", "a YAML alias refers to a node that contains it")
    # Only a top-level key named "" has no path: it is called config.
    path = _file(tmp_path, '&r {"": *r}\n')
    assert _refusal(read_yaml, path) == (f"{path}: config", "a YAML alias refers to a node that contains it")


def _expanding_to(total: int) -> str:
    """A file whose values, aliases expanded, number `total`: the root and `config` count 1 each, a
    list 1 plus its items, an alias the size of what it names each time it is used."""
    sizes, lines = [10], ["  l0: &l0 [" + ", ".join(["x"] * 9) + "]"]
    for k in (1, 2, 3):
        sizes.append(1 + 10 * sizes[-1])  # 101, 1,011, 10,111
        lines.append(f"  l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    remaining = total - 2 - sum(sizes) - 1  # the root, config, the four lists, the `rest` list
    items = []
    for k in (3, 2, 1, 0):
        while remaining >= sizes[k]:
            items.append(f"*l{k}")
            remaining -= sizes[k]
    items += ["x"] * remaining
    return "config:\n" + "\n".join(lines) + "\n  rest: [" + ", ".join(items) + "]\n"


def test_a_file_may_expand_to_100000_values_and_not_one_more(tmp_path):
    assert set(read_yaml(_file(tmp_path, _expanding_to(100_000)))["config"]) == {"l0", "l1", "l2", "l3", "rest"}
    path = _file(tmp_path, _expanding_to(100_001))
    assert _refusal(read_yaml, path) == (
        f"{path}: config",
        "expands to more than 100,000 values (YAML aliases repeat nodes): refused",
    )


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("config:\n  aws:region: a\n  aws:region: b\n", "aws:region", "2 and 3"),
        ("config: {}\nconfig: {}\n", "config", "1 and 2"),
        ("encryptionsalt: a\nencryptionsalt: b\n", "encryptionsalt", "1 and 2"),
        ("config:\n  mlops:platform:\n    tags: {a: 1, a: 2}\n", "mlops:platform.tags.a", "3 and 3"),
        (
            "config:\n  mlops:platform:\n    tags:\n      config: {x: 1, x: 2}\n",
            "mlops:platform.tags.config.x",
            "4 and 4",
        ),
        ("config:\n  k: [{a: 1}, {b: 1, b: 2}]\n", "k[1].b", "2 and 2"),
        ("config:\n  k: {? [a] : 1, ? [a] : 2}\n", "k.?", "2 and 2"),
    ],
)
def test_a_duplicate_key_is_refused_naming_its_path_and_lines(tmp_path, text, key, lines):
    path = _file(tmp_path, text)
    assert _refusal(read_yaml, path) == (
        f"{path}: {key}",
        f"duplicate key (lines {lines}); Pulumi refuses it: keep one",
    )


def test_two_merge_keys_are_not_duplicates(tmp_path):
    text = "base: &b {x: 1}\nmore: &m {y: 2}\nconfig:\n  k:\n    <<: *b\n    <<: *m\n"
    assert read_yaml(_file(tmp_path, text))["config"]["k"]["x"] == 1


# --- the stack file's shape -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["- a\n- b\n", "config: [a, b]\n"])
def test_config_must_be_a_mapping(tmp_path, text):
    path = _file(tmp_path, text)
    assert _refusal(load_stack_file, path) == (f"{path}: config", "must be a mapping of `namespace:key: value`")


def test_a_value_yaml_reads_as_a_date_must_be_quoted(tmp_path):
    path = _file(tmp_path, "config:\n  aws:region: 2024-01-01\n")
    assert _refusal(load_stack_file, path) == ("aws:region", "datetime.date(2024, 1, 1) is not a plain value: quote it")


def test_a_stack_file_read_whole(tmp_path):
    text = (
        "config:\n  cloud: aws\n  aws:region: eu-west-1\n  aws:token:\n    secure: v1:abc\n"
        "  gcp:key: {secure: x, y: 1}\n"
    )
    path = _file(tmp_path, text, "Pulumi.dev-1.yaml")
    assert load_stack_file(path) == StackFile(
        stack="dev-1",
        path=path,
        config={
            "mlops:cloud": "aws",
            "aws:region": "eu-west-1",
            "aws:token": "[secret]",
            "gcp:key": {"secure": "x", "y": 1},
        },
        secret_keys=("aws:token",),
        warnings=(),
    )
    assert load_stack_file(path, "other").stack == "other"
    assert load_stack_file(_file(tmp_path, text, "stack.yaml")).stack == "stack"


def test_every_unknown_mlops_key_is_refused_even_after_a_secret_looking_one(tmp_path):
    path = _file(tmp_path, "config:\n  mlops:api_token: abc\n  mlops:plaform: {}\n")
    assert _refusal(load_stack_file, path) == ("mlops:plaform", "unknown key, did you mean mlops:platform?")


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("mlops:clouds", "unknown key, did you mean mlops:cloud?"),
        ("mlops:cloud:x", "unknown key, did you mean mlops:cloud?"),
        ("mlops:xx:platform", "unknown key, did you mean mlops:platform?"),
        ("mlops:region", "unknown key, the kit reads mlops:cloud and mlops:platform"),
    ],
)
def test_an_unknown_mlops_key_suggests_the_closest_known_one(tmp_path, key, rule):
    path = _file(tmp_path, f"config:\n  {key}: x\n")
    assert _refusal(load_stack_file, path) == (key, rule)


# --- secrets in plain text ---------------------------------------------------------------------------------


def _warning(where: str, path: bool) -> str:
    flag = " --path" if path else ""
    return (
        f"{where}: looks like a secret in plain text; store it encrypted: "
        f"pulumi config set --secret{flag} '{where}' VALUE"
    )


def test_secret_looking_values_are_found_wherever_they_are():
    config = {
        "aws:accessKey": "abc",
        "mytoken:region": "eu-west-1",  # the namespace is not the key's name
        "mlops:platform": {
            "tags": {"db_password": "hunter2", "password_policy": {"min_length": "12"}, "empty_token": ""},
            "keys": ["AKIAABCDEFGHIJKLMNOP", "plain", {"api_key": "k"}],
        },
        "aws:secret": "[secret]",
        "gh:x": "ghp_" + "a" * 30,
    }
    assert secret_warnings(config) == [
        _warning("aws:accessKey", False),
        _warning("mlops:platform.tags.db_password", True),
        _warning("mlops:platform.keys[0]", True),
        _warning("mlops:platform.keys[2].api_key", True),
        _warning("gh:x", False),
    ]


# --- finding stack files ------------------------------------------------------------------------------------


def test_stack_name_from_a_file_name():
    assert stack_name_from_path(Path("Pulumi.aws-dev.yaml")) == "aws-dev"
    assert stack_name_from_path(Path("Pulumi.x.yml")) == "x"
    assert stack_name_from_path(Path("Pulumi.yaml")) is None
    assert stack_name_from_path(Path("Pulumi.bad name.yaml")) is None


def test_stack_files_are_the_files_named_like_stacks(tmp_path):
    (tmp_path / "Pulumi.a.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.b.yml").write_text("config: {}\n")
    (tmp_path / "Pulumi.a.yml").write_text("config: {}\n")  # the .yaml one wins
    (tmp_path / "Pulumi.bad name.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.dir.yaml").mkdir()
    assert stack_files(tmp_path) == {"a": tmp_path / "Pulumi.a.yaml", "b": tmp_path / "Pulumi.b.yml"}


def test_the_project_root_is_found_by_pulumi_yaml_or_yml(tmp_path):
    (tmp_path / "Pulumi.yml").write_text("name: mlops\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_project_root(tmp_path / "a" / "b") == tmp_path
    assert find_project_root(tmp_path / "a") == tmp_path


def test_a_stack_file_is_found_in_the_project_given(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\n")
    (tmp_path / "Pulumi.s1.yml").write_text("config: {}\n")
    monkeypatch.chdir(ROOT)  # another project: `root` is the one searched
    assert find_stack_file("s1", tmp_path) == tmp_path / "Pulumi.s1.yml"
    assert find_stack_file("acme/mlops/s1", tmp_path) == tmp_path / "Pulumi.s1.yml"
    assert _refusal(find_stack_file, "nope", tmp_path) == (
        "--stack",
        f"no stack file Pulumi.nope.yaml in {tmp_path} (stacks there: s1)",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "Pulumi.yaml").write_text("name: mlops\n")
    assert _refusal(find_stack_file, "s1", empty) == (
        "--stack",
        f"no stack file Pulumi.s1.yaml in {empty} (stacks there: none)",
    )


@pytest.mark.parametrize(
    ("stack", "rule"),
    [
        ("a/b/c/d", "must be a stack name or org/project/stack, got 'a/b/c/d'"),
        ("acme//dev", "must be a stack name or org/project/stack, got 'acme//dev'"),
        ("acme/other/dev", "project 'other' is not this project ('mlops', Pulumi.yaml)"),
    ],
)
def test_a_malformed_stack_reference_is_refused(stack, rule):
    assert _refusal(find_stack_file, stack, ROOT) == ("--stack", rule)


# --- resolve -------------------------------------------------------------------------------------------------


class _Fake(Provider[tuple[str, str]]):
    cloud = "aws"
    config_keys = {"region": "aws:region"}
    region_key = "aws:region"

    def __init__(self, limitations: list[Limitation]) -> None:
        self._limitations = limitations

    def limitations(self, platform):
        return self._limitations

    def translate(self, target):
        return ("translated", target.stack)

    def components(self):
        raise AssertionError("not built here")


def _config(**platform_changes: Any) -> dict[str, Any]:
    platform = copy.deepcopy(PLATFORM)
    platform.update(platform_changes)
    return {"mlops:cloud": "aws", "mlops:platform": platform, "aws:region": "mars-1"}


def test_resolve_hands_the_translated_deployment(monkeypatch):
    provider = _Fake([Limitation("mlops:platform.x", "harmless", "note")])
    monkeypatch.setattr(config_module.registry, "get", lambda cloud: provider)
    got, deployment = resolve("s1", _config().get)
    assert got is provider
    assert (deployment.stack, deployment.cloud, deployment.region) == ("s1", "aws", "mars-1")
    assert dict(deployment.cloud_config) == {"region": "mars-1"}
    assert deployment.settings == ("translated", "s1")
    assert deployment.pipeline.name == "churn" and deployment.platform.prefix == "churn-dev"
    stack_file = StackFile(stack="s2", path=Path("x"), config=_config(), secret_keys=())
    assert resolve_file(stack_file)[1].stack == "s2"


def test_a_refused_limitation_names_its_key_and_the_cloud(monkeypatch):
    limits = [Limitation("mlops:platform.x", "harmless", "note"), Limitation("mlops:platform.y", "cannot do y")]
    monkeypatch.setattr(config_module.registry, "get", lambda cloud: _Fake(limits))
    assert _refusal(resolve, "s1", _config().get) == ("mlops:platform.y", "cannot do y (not possible on aws)")


# --- the program's getter ---------------------------------------------------------------------------------------


def test_the_program_reads_json_objects_and_plain_strings_from_pulumi_config():
    pulumi.runtime.set_all_config({"mlops:platform": '{"name": "churn", "n": [1]}', "aws:region": "eu-west-1"})
    try:
        get = pulumi_getter()
        assert get("mlops:platform") == {"name": "churn", "n": [1]}
        assert get("aws:region") == "eu-west-1"
        assert get("aws:profile") is None
    finally:
        pulumi.runtime.set_all_config({})
