"""A small fake of the BigQuery v2 and Cloud Logging v2 REST APIs: what the GCP step I/O calls.

The real google-cloud-bigquery and google-cloud-logging clients talk to it (an `http://`
api_endpoint, anonymous credentials). BigQuery:
- `POST /upload/bigquery/v2/projects/P/jobs?uploadType=multipart`: a load job of newline-delimited
  JSON into an EXISTING table (the fake refuses CREATE_IF_NEEDED on an unknown table, as
  CREATE_NEVER would on BigQuery, and a row whose column the table lacks), appended;
- `GET /bigquery/v2/projects/P/jobs/ID`: the job, DONE;
- `POST /bigquery/v2/projects/P/queries` (jobs.query): GoogleSQL run by sqlite3 after mapping
  `` `a.b.c` `` to a quoted identifier and `@name` to `:name`: the kit's queries use only what
  both dialects mean the same way (SELECT, WHERE, ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..)).
  Values are returned the way the API returns them (`{"f": [{"v": "..."}]}`, TIMESTAMP as int64
  microseconds: the client asks `formatOptions.useInt64Timestamp`).
Logging: `POST /v2/entries:write` (kept in `entries`) and `POST /v2/entries:list`.
Every request is recorded.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.local_server import Call, LocalServer


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    body: Any


def _micros(value: Any) -> int:
    """A TIMESTAMP as the API takes it (RFC 3339, `YYYY-MM-DD HH:MM:SS[.f][+zz:zz]`) -> microseconds."""
    text = str(value).strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return round(moment.timestamp() * 1_000_000)


def _stored(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP":
        return _micros(value)
    if kind in ("BOOLEAN", "BOOL"):
        if isinstance(value, str):
            return 1 if value.lower() == "true" else 0
        return 1 if value else 0
    if kind in ("INTEGER", "INT64"):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an INTEGER")
        return int(value)
    if kind in ("FLOAT", "FLOAT64"):
        return float(value)
    if kind == "STRING":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a STRING")
        return value
    raise ValueError(f"type {kind} is not faked")


def _api_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("BOOLEAN", "BOOL"):
        return "true" if value else "false"
    return str(value)


@dataclass
class FakeGoogle:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """'project.dataset.table' -> {"schema": [BigQuery fields], "rows": [{column: stored value}]}"""
    entries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- state helpers for tests
    def create_table(self, table: str, schema: list[dict[str, Any]]) -> None:
        self.tables[table] = {"schema": [dict(f) for f in schema], "rows": []}

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Rows as BigQuery would hold them (JSON values, REPEATED as lists), e.g. what Vertex logs."""
        schema = {f["name"]: f for f in self.tables[table]["schema"]}
        for row in rows:
            stored = {}
            for name, value in row.items():
                spec = schema[name]
                if spec.get("mode") == "REPEATED":
                    stored[name] = json.dumps([_stored(v, spec["type"]) for v in value])
                else:
                    stored[name] = _stored(value, spec["type"])
            self.tables[table]["rows"].append(stored)

    # -- the server
    def start(self) -> str:
        self.lock = threading.Lock()
        self.server = LocalServer(self._serve, methods=("GET", "POST"))
        return self.server.url

    def _serve(self, call: Call) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(Recorded(call.method, call.path, call.query, call.body))
            try:
                return self.answer(call.method, call.path, call.query, call.body, call.content_type)
            except (ValueError, KeyError, sqlite3.Error) as exc:
                return 400, {"error": {"code": 400, "message": str(exc), "status": "INVALID_ARGUMENT"}}

    def stop(self) -> None:
        self.server.stop()

    # -- BigQuery
    def answer(self, method: str, path: str, query: str, raw: bytes, content_type: str) -> tuple[int, Any]:
        if method == "POST" and re.fullmatch(r"/upload/bigquery/v2/projects/[^/]+/jobs", path):
            return self._load(raw, content_type)
        match = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)", path)
        if method == "GET" and match:
            job = self.jobs.get(match[2])
            if job is None:
                return 404, {"error": {"code": 404, "message": f"job {match[2]} not found", "status": "NOT_FOUND"}}
            return 200, job
        match = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries", path)
        if method == "POST" and match:
            return self._query(match[1], json.loads(raw))
        if method == "POST" and path == "/v2/entries:write":
            return self._write_entries(json.loads(raw))
        if method == "POST" and path == "/v2/entries:list":
            return 200, {"entries": list(reversed(self.entries))}
        return 404, {"error": {"code": 404, "message": f"unknown path {path}", "status": "NOT_FOUND"}}

    def _load(self, raw: bytes, content_type: str) -> tuple[int, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        metadata_part, data_part = list(message.iter_parts())
        job = json.loads(metadata_part.get_payload(decode=True))
        load = job["configuration"]["load"]
        ref = load["destinationTable"]
        table = f"{ref['projectId']}.{ref['datasetId']}.{ref['tableId']}"
        if table not in self.tables:
            if load.get("createDisposition") == "CREATE_NEVER":
                return 404, {"error": {"code": 404, "message": f"Not found: Table {table}", "status": "NOT_FOUND"}}
            raise ValueError(f"the fake creates no table ({table}); the kit loads with CREATE_NEVER")
        if load.get("writeDisposition") != "WRITE_APPEND":
            raise ValueError(f"writeDisposition {load.get('writeDisposition')}: the feature store only appends")
        if load.get("sourceFormat") != "NEWLINE_DELIMITED_JSON":
            raise ValueError(f"sourceFormat {load.get('sourceFormat')}")
        columns = {f["name"] for f in self.tables[table]["schema"]}
        rows = [json.loads(line) for line in data_part.get_payload(decode=True).decode().splitlines() if line.strip()]
        for row in rows:
            unknown = sorted(set(row) - columns)
            if unknown:
                raise ValueError(f"no such field: {unknown[0]} in {table}")
        self.insert(table, rows)
        job_id = job.get("jobReference", {}).get("jobId") or f"load-{len(self.jobs)}"
        project = job.get("jobReference", {}).get("projectId") or ref["projectId"]
        done = {
            "kind": "bigquery#job",
            "id": f"{project}:{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": "EU"},
            "configuration": job["configuration"],
            "status": {"state": "DONE"},
            "statistics": {"load": {"outputRows": str(len(rows))}},
        }
        self.jobs[job_id] = done
        return 200, done

    def _query(self, project: str, body: dict[str, Any]) -> tuple[int, Any]:
        sql = body["query"]
        if body.get("useLegacySql"):
            raise ValueError("legacy SQL")
        names = re.findall(r"`([\w-]+\.[\w-]+\.[\w-]+)`", sql)
        if len(set(names)) != 1:
            raise ValueError(f"the fake runs queries over exactly one table, got {names}")
        (table,) = set(names)
        if table not in self.tables:
            return 404, {"error": {"code": 404, "message": f"Not found: Table {table}", "status": "NOT_FOUND"}}
        schema = {f["name"]: f for f in self.tables[table]["schema"]}
        text = sql.replace(f"`{table}`", '"source"')
        text = re.sub(r"`([\w]+)`", r'"\1"', text)
        params: dict[str, Any] = {}
        for param in body.get("queryParameters", []):
            kind = param["parameterType"]["type"]
            params[param["name"]] = _stored(param["parameterValue"]["value"], kind)
        text = re.sub(r"@(\w+)", r":\1", text)
        db = sqlite3.connect(":memory:")
        columns = list(schema)
        quoted = ", ".join(f'"{c}"' for c in columns)
        db.execute(f"CREATE TABLE source ({quoted})")
        db.executemany(
            f"INSERT INTO source VALUES ({', '.join('?' for _ in columns)})",
            [[row.get(c) for c in columns] for row in self.tables[table]["rows"]],
        )
        cursor = db.execute(text, params)
        out_names = [d[0] for d in cursor.description]
        result = cursor.fetchall()
        fields = [schema[name] for name in out_names]
        rows = []
        for values in result:
            cells = []
            for spec, value in zip(fields, values, strict=True):
                if spec.get("mode") == "REPEATED":
                    cells.append({"v": [{"v": _api_value(v, spec["type"])} for v in json.loads(value or "[]")]})
                else:
                    cells.append({"v": _api_value(value, spec["type"])})
            rows.append({"f": cells})
        return 200, {
            "kind": "bigquery#queryResponse",
            "schema": {"fields": fields},
            "rows": rows,
            "totalRows": str(len(rows)),
            "jobComplete": True,
            "queryId": f"q{len(self.requests)}",
        }

    # -- Logging
    def _write_entries(self, body: dict[str, Any]) -> tuple[int, Any]:
        for entry in body.get("entries", []):
            full = {**{k: body[k] for k in ("logName", "resource", "labels") if k in body}, **entry}
            if "logName" not in full or "resource" not in full:
                raise ValueError("an entry without logName or resource")
            self.entries.append(full)
        return 200, {}
