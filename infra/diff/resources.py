"""Resource-level changes, matched by URN (the stack part ignored), and which of them are dangerous."""

from __future__ import annotations

from typing import Any

from infra.config import SECRET_PLACEHOLDER
from infra.diff.result import Change, ResourceChange
from infra.diff.secrets import _under, redact, secret_paths
from infra.diff.walk import MISSING, _top, walk_diff
from providers import registry

_OPS_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3}


def _key(urn: str) -> str:
    """The URN without its stack: `urn:pulumi:<stack>::<project>::<type path>::<name>`."""
    parts = urn.split("::", 1)
    head = parts[0]
    if head.startswith("urn:pulumi:") and len(parts) == 2:
        return "urn:pulumi:*::" + parts[1]
    return urn


def resource_changes(base: dict[str, Any], head: dict[str, Any]) -> list[ResourceChange]:
    old = {_key(r["urn"]): r for r in base["resources"]}
    new = {_key(r["urn"]): r for r in head["resources"]}
    secrets_by_key = {
        key: secret_paths((old.get(key) or {}).get("inputs") or {})
        | secret_paths((new.get(key) or {}).get("inputs") or {})
        for key in set(old) | set(new)
    }
    data_bearing, replace_on_change = registry.data_bearing(), registry.replace_on_change()
    replace_when = registry.replace_when()
    out: list[ResourceChange] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        res = b or a
        assert res is not None
        data = data_bearing.get(res["type"])
        rc = ResourceChange(
            op="update",
            urn=res["urn"],
            type=res["type"],
            name=res["name"],
            protect=bool((a or {}).get("protect") or (b or {}).get("protect")),
            data_bearing=data,
        )
        secrets = secrets_by_key[key]
        if a is None:
            rc.op = "create"
        elif b is None:
            rc.op = "delete"
            rc.protect = bool(a.get("protect"))
            if data:
                rc.reasons.append(f"deletes a {data}: its data is lost")
            if a.get("protect"):
                rc.reasons.append("the resource is protected: `pulumi up` will refuse until it is unprotected")
        else:
            forced = set(replace_on_change.get(res["type"], ()))
            if res["type"] in replace_when:
                forced |= set(replace_when[res["type"]](a.get("inputs") or {}, b.get("inputs") or {}))
            # Pulumi does not apply changes to `ignore_changes` properties: neither does the diff.
            ignored = set(b.get("ignore_changes") or ())
            for path, x, y in walk_diff(a.get("inputs") or {}, b.get("inputs") or {}):
                if _top(path) in ignored:
                    continue
                secret = _under(path, secrets)
                change = Change(
                    path=path,
                    old=SECRET_PLACEHOLDER if secret and x is not MISSING else redact(x, path, secrets),
                    new=SECRET_PLACEHOLDER if secret and y is not MISSING else redact(y, path, secrets),
                    secret=secret,
                    replaces=_top(path) in forced,
                )
                rc.changes.append(change)
            if bool(a.get("protect")) != bool(b.get("protect")):
                rc.changes.append(Change("(protect)", bool(a.get("protect")), bool(b.get("protect"))))
            if not rc.changes:
                continue
            replacing = sorted({_top(c.path) for c in rc.changes if c.replaces})
            if replacing:
                rc.op = "replace"
                if data:
                    names = ", ".join(f"`{p}`" for p in replacing)
                    rc.reasons.append(f"replaces a {data} ({names} cannot change in place): its data is lost")
                if a.get("protect"):
                    rc.reasons.append(
                        "the resource is protected: `pulumi up` will refuse to replace it until it is unprotected "
                        "(`pulumi state unprotect`)"
                    )
        rc.dangerous = bool(rc.reasons)
        out.append(rc)
    _note_renames(out)
    out.sort(key=lambda r: (not r.dangerous, _OPS_ORDER[r.op], r.type, r.name, r.urn))
    return out


def _note_renames(changes: list[ResourceChange]) -> None:
    """A delete and a create of the same type look like a rename (a URN change: delete + create)."""
    creates: dict[str, list[ResourceChange]] = {}
    for rc in changes:
        if rc.op == "create":
            creates.setdefault(rc.type, []).append(rc)
    for rc in changes:
        if rc.op == "delete" and creates.get(rc.type):
            other = creates[rc.type].pop(0)
            rc.notes.append(
                f"looks renamed to `{other.name}`: a URN change is a delete + create "
                "(an alias would make it an update; aliases cannot be seen offline)"
            )
            other.notes.append(f"looks like the new name of `{rc.name}` (deleted)")
