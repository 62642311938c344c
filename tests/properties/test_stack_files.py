"""Property: any stack file, valid or broken, ends `mlops validate` and `mlops plan` with exit 0 or 2.

Stack files are generated from the three example stacks by mutations a user (or a bad merge) makes:
wrong types, missing keys, bad crons, duplicate keys, YAML oddities (aliases, tabs, flow style,
truncation, bytes that are not UTF-8). Exit 2 must come with one line naming a key; exit 1 (a
traceback) fails the test. Hypothesis' `deadline` bounds each example's time.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from infra.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {cloud: yaml.safe_load((ROOT / f"Pulumi.{cloud}-dev.yaml").read_text()) for cloud in ("aws", "gcp", "azure")}

PATHS = [
    ("name",),
    ("environment",),
    ("tags",),
    ("tags", "db_password"),
    ("protect_data",),
    ("network", "public_access"),
    ("feature_store", "online_sync_schedule"),
    ("feature_store", "feature_groups"),
    ("feature_store", "feature_groups", 0, "name"),
    ("feature_store", "feature_groups", 0, "description"),
    ("feature_store", "feature_groups", 0, "features"),
    ("feature_store", "feature_groups", 0, "features", 0, "type"),
    ("registry", "approval"),
    ("pipeline", "name"),
    ("pipeline", "schedule"),
    ("pipeline", "instance"),
    ("pipeline", "quality_gate", "threshold"),
    ("endpoint", "model_version"),
    ("endpoint", "max_replicas"),
    ("endpoint", "min_replicas"),
    ("endpoint", "instance"),
    ("monitor", "schedule"),
    ("monitor", "drift_threshold"),
    ("monitor", "alert_email"),
    ("unknown_key",),
]
CRONS = [
    "0 3 * * 0-7",
    "0 3 * * */2",
    "0 3 * * 1-fri",
    "*/5,7 * * * *",
    "0 3 31 2 *",
    "0 3 * * 5#3",
    "0 3 L * *",
    "0 */4 * * *",
    "0 1,5 * * *",
    "61 * * * *",
    "@daily",
    "0 3 1 * 1",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["no", "yes", "010", "", "prod", "gpu", "auto", "x" * 300, "ml@example.com", "Churn!"]),
    st.sampled_from([1, 2, 8, 0.5, "medium", "manual", "churn2"]),  # often valid: the plan runs
    st.sampled_from(CRONS),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "type"]), st.integers(0, 3), max_size=2),
)


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> None:
    node: Any = document["config"]["mlops:platform"]
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if not isinstance(node, dict | list):
        return
    with contextlib.suppress(KeyError, IndexError, TypeError):
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value


@st.composite
def stack_texts(draw: st.DrawFn) -> bytes:
    cloud = draw(st.sampled_from(sorted(EXAMPLES)))
    document = copy.deepcopy(EXAMPLES[cloud])
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        _set(document, draw(st.sampled_from(PATHS)), draw(VALUES), draw(st.booleans()))
    config = document["config"]
    if draw(st.integers(0, 9)) == 0:
        config["mlops:cloud"] = draw(st.sampled_from(["aws", "gcp", "azure", "oracle", None, 3]))
    if draw(st.integers(0, 9)) == 0:
        config.pop(draw(st.sampled_from(sorted(config))), None)
    if draw(st.integers(0, 9)) == 0:
        config[draw(st.sampled_from(["mlops:plaform", "mlops:db_password", "aws:region", "gcp:region"]))] = "x"
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=draw(st.booleans()))
    lines = text.splitlines()
    oddities = ["duplicate", "alias", "tab", "truncate", "bytes", "document"]
    oddity = draw(st.sampled_from(["none"] * len(oddities) + oddities))
    if oddity == "duplicate" and len(lines) > 2:
        i = draw(st.integers(1, len(lines) - 1))
        lines.insert(i, lines[i])  # the same key twice in one mapping (or a repeated list item)
    elif oddity == "alias":
        lines = [*lines, "  mlops:x: &a [1, 2]", "  mlops:y: *a"]
    elif oddity == "tab" and len(lines) > 2:
        i = draw(st.integers(1, len(lines) - 1))
        lines[i] = "\t" + lines[i].lstrip()
    elif oddity == "truncate":
        lines = lines[: draw(st.integers(0, len(lines)))]
    elif oddity == "document":
        lines = [*lines, "---", "config: {}"]
    data = ("\n".join(lines) + "\n").encode()
    if oddity == "bytes":
        data = data[: draw(st.integers(0, len(data)))] + b"\xff\xfe" + data[-10:]
    return data


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@settings(
    max_examples=30,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(stack_texts())
def test_validate_and_plan_end_in_exit_0_or_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "Pulumi.prop-dev.yaml"
        path.write_bytes(data)
        for command in ("validate", "plan"):
            code, err = _run([command, "--config-file", str(path)])
            event(f"{command} exit {code}")
            assert code in (0, 2), (command, code, err)
            errors = [line for line in err.splitlines() if line.startswith("mlops: invalid config: ")]
            if code == 2:
                assert len(errors) == 1, err
                key = errors[0].removeprefix("mlops: invalid config: ").split(": ", 1)[0]
                assert key, err  # names a key (or the file)
            else:
                assert errors == []
