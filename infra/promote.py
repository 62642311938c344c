"""The stack file edit of `mlops model promote`: `endpoint.model_version` set in a
`Pulumi.<stack>.yaml`, with a comment saying where the version came from and the
`tags.promoted_model` entry `mlops diff` reads, everything else byte for byte as it was.

The file is read and written with ruamel.yaml's round trip (comments, key order, quoting, flow
style kept). ruamel re-indents what it writes, so the indentation that reproduces the file
exactly is found first; a file no setting reproduces is refused (exit 2) rather than reformatted.
"""

from __future__ import annotations

import io
from typing import Any

from providers.operations import PROMOTED_TAG, OperationError

# (mapping, sequence, offset): ruamel's indent settings, the layouts stack files are written in.
_LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 2, 2), (4, 4, 0))
_NULLS = ("null", "~", "")
"""How the file writes an empty value (ruamel writes None as nothing unless told)."""
PLATFORM_KEYS = ("mlops:platform", "platform")


def _yaml(layout: tuple[int, int, int], null: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap a long line
    yaml.indent(mapping=layout[0], sequence=layout[1], offset=layout[2])
    yaml.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", null))
    return yaml


def _dump(yaml: Any, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def round_trip(text: str, where: str) -> tuple[Any, Any]:
    """(yaml, document) whose dump reproduces `text` exactly."""
    from ruamel.yaml.error import YAMLError

    for layout, null in ((layout, null) for null in _NULLS for layout in _LAYOUTS):
        yaml = _yaml(layout, null)
        try:
            doc = yaml.load(text)
        except YAMLError:
            raise OperationError(f"{where} is not valid YAML") from None
        if _dump(yaml, doc) == text:
            return yaml, doc
    raise OperationError(
        f"{where}: cannot rewrite it without changing its layout (indentation or empty values written in a "
        "way ruamel.yaml does not reproduce); set endpoint.model_version by hand"
    )


def _platform(doc: Any, where: str) -> Any:
    config = doc.get("config") if hasattr(doc, "get") else None
    if config is None or not hasattr(config, "get"):
        raise OperationError(f"{where}: no `config` mapping")
    for key in PLATFORM_KEYS:
        if hasattr(config.get(key), "get"):
            return config[key]
    raise OperationError(f"{where}: no mlops:platform mapping")


def _set_eol_comment(mapping: Any, key: str, comment: str) -> None:
    """Replace the end-of-line comment of `key` (keeping blank lines and comment lines that follow
    it, which ruamel stores in the same token), or add one."""
    from ruamel.yaml.tokens import CommentToken

    tokens = mapping.ca.items.get(key)
    token = tokens[2] if tokens and len(tokens) > 2 else None
    if isinstance(token, CommentToken):
        first, newline, rest = token.value.partition("\n")
        if first.lstrip().startswith("#"):
            token.value = f"# {comment}{newline}{rest}"
        else:  # no comment on the line itself, only the lines that follow it
            token.value = f" # {comment}\n{rest}"
        return
    mapping.yaml_add_eol_comment(f"# {comment}", key)


def set_model_version(text: str, version: int, comment: str, tag: str | None, where: str = "stack file") -> str:
    """`text` with `endpoint.model_version: <version>  # <comment>` and `tags.promoted_model: <tag>`."""
    from ruamel.yaml.comments import CommentedMap

    yaml, doc = round_trip(text, where)
    platform = _platform(doc, where)
    endpoint = platform.get("endpoint")
    if endpoint is None:
        endpoint = CommentedMap()
        platform.insert(len(platform), "endpoint", endpoint)
    if not isinstance(endpoint, CommentedMap):
        raise OperationError(f"{where}: mlops:platform.endpoint must be a mapping")
    if "model_version" in endpoint:
        endpoint["model_version"] = version
    else:
        endpoint.insert(0, "model_version", version)
    _set_eol_comment(endpoint, "model_version", comment)
    if tag is not None:
        tags = platform.get("tags")
        if tags is None:
            tags = CommentedMap()
            after = list(platform).index("environment") + 1 if "environment" in platform else len(platform)
            platform.insert(after, "tags", tags)
        if not isinstance(tags, CommentedMap):
            raise OperationError(f"{where}: mlops:platform.tags must be a mapping")
        tags[PROMOTED_TAG] = tag
    return _dump(yaml, doc)
