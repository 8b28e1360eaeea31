"""Definitions: the version served, its history, the last reload, reload now, validate.

- `GET  /api/v1/definitions`          the version served (any authenticated user)
- `GET  /api/v1/definitions/history`  applied versions, newest first
- `GET  /api/v1/definitions/reload`   the last reload: every diagnostic and pre-flight finding
- `POST /api/v1/definitions/reload`   reload now (also `POST /admin/reload`); author = caller
- `POST /api/v1/definitions/validate` compile an uploaded bundle without applying it
- `GET  /api/v1/definitions/schema`   the JSON Schema of definition files
- `GET  /api/v1/reevaluations`         re-evaluation jobs and their progress (?state, ?limit)

All but the version served and the schema need a role of the bundle's
`access.definitions`. One exception, on purpose: while no good bundle was ever loaded
there are no users, roles or records, and the auth middleware answers 503 to every
token; `GET /api/v1/definitions/reload` then answers without a token, so the person
fixing the files sees every error (file:line:col) over HTTP as well as in the log
(`/readyz` says 503 and points here). As soon as a bundle is served it needs a token
and a definitions role like the rest.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.exceptions import ClientException
from litestar.params import QueryParameter

from api.auth import TokenAuth, access, require
from api.calls import call
from api.errors import body
from api.openapi import errors
from api.reload import KINDS, changes, located
from api.routes.common import API, caller, runtime_of, server_of
from api.server import ReloadResult, Server
from engine.bundle import Bundle
from engine.compiler.pipeline import YAML_SUFFIXES, compile_bundle
from engine.diagnostics import Severity
from engine.schema import definition_schema
from runtime import reports, rows
from runtime.access import Principal
from runtime.preflight import blocking, preflight
from runtime.reevaluate import listing

DEFS = f"{API}/definitions"
MAX_FILES = 1000  # files in one uploaded bundle
MAX_FILE_BYTES = 2 * 1024 * 1024  # one definition file
MAX_TOTAL_BYTES = 16 * 1024 * 1024  # the whole bundle, unpacked


# -- who may ---------------------------------------------------------------------------


def _definitions(request: Request[Any, Any, Any], what: str) -> tuple[Server, Bundle]:
    server = server_of(request)
    _, bundle = runtime_of(request)
    require(caller(request), access(bundle, "definitions"), what)
    return server, bundle


# -- reading ---------------------------------------------------------------------------


@get(DEFS, tags=["definitions"])
async def current(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return the version served: hash, when and by whom it was applied, what it holds."""
    server = server_of(request)
    _, bundle = runtime_of(request)
    versions = await call(server.versions, 50)
    row = next((v for v in versions if v["hash"] == bundle.hash), None)
    last = server.last
    return {
        "hash": bundle.hash,
        "name": bundle.manifest.name,
        "applied_at": row["applied_at"] if row else None,
        "author": row["author"] if row else None,
        "summary": row["summary"] if row else bundle.summary(),
        "changes": row["changes"] if row else {},
        "counts": dict(bundle.counts),
        "files": len(bundle.files),
        "documents": {kind: sorted(getattr(bundle, attr)) for kind, attr in KINDS.items()},
        "last_reload": _brief(last) if last else None,
    }


def _brief(result: ReloadResult) -> dict[str, Any]:
    data = result.to_dict()
    return {k: data[k] for k in ("at", "trigger", "author", "applied", "hash", "errors")}


@get(f"{DEFS}/history", tags=["definitions"], responses=errors(403))
async def history(
    request: Request[Any, Any, Any],
    limit: Annotated[int, QueryParameter(schema_extra={"minimum": 1, "maximum": 500})] = 20,
) -> list[dict[str, Any]]:
    """Return the applied versions, newest first (`limit` 1..500)."""
    if not 1 <= limit <= 500:
        raise ClientException(
            "limit must be between 1 and 500",
            extra=[{"key": "limit", "message": f"{limit} is out of 1..500", "source": "query"}],
        )
    server, _ = _definitions(request, "read the definitions history")
    return await call(server.versions, limit)


@get(f"{DEFS}/reload", tags=["definitions"], opt={"exclude_from_auth": True}, responses=errors(403))
async def last_reload(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return the last reload: every diagnostic (file:line:col) and pre-flight finding."""
    server = server_of(request)
    bundle = server.bundle
    if bundle is not None:  # served: authenticate here (this route skips the middleware)
        found = await TokenAuth(request.app).authenticate_request(request)
        who: Principal = found.user
        require(who, access(bundle, "definitions"), "read the reload result")
        return await _examples_seen(request, _report(server.last), who)
    return _report(server.last)


async def _examples_seen(
    request: Request[Any, Any, Any], report: dict[str, Any], who: Principal
) -> dict[str, Any]:
    """Leave out of the pre-flight findings' `examples` the record ids the caller's rows
    do not reach (docs/decisions.md 61); each finding's count stays whole."""
    server = server_of(request)
    runtime = server.runtime
    findings = report.get("preflight") or []
    shown = [e for f in findings for e in f.get("examples", [])]
    if runtime is None or not shown:
        return report
    out: set[str] = await call(
        reports.read,
        runtime.store,
        rows.hidden_among,
        runtime.bundle,
        shown,
        who.user,
        who.roles,
    )
    if out:
        report["preflight"] = [
            {**f, "examples": [e for e in f.get("examples", []) if e not in out]}
            if "examples" in f
            else f
            for f in findings
        ]
    return report


def _report(result: ReloadResult | None) -> dict[str, Any]:
    if result is None:
        return {"applied": False, "diagnostics": [], "preflight": []}
    data = result.to_dict()
    data["diagnostics"] = [located(d) for d in data["diagnostics"]]
    return data


# -- reloading -------------------------------------------------------------------------


async def _reload(request: Request[Any, Any, Any]) -> Response[Any]:
    server, _ = _definitions(request, "reload the definitions")
    result = await anyio.to_thread.run_sync(server.reload, "api", caller(request).user)
    report = await _examples_seen(request, _report(result), caller(request))
    if result.applied or result.changes.get("unchanged"):
        return Response(report, status_code=200)
    extra = [
        {"key": d["code"], "message": d["message"], "source": d["where"]}
        for d in report["diagnostics"]
        if d.get("severity") == "error"
    ] + [
        {"key": p["code"], "message": p["message"], "source": "preflight"}
        for p in report["preflight"]
        if p.get("severity") == "error"
    ]
    detail = "the definitions were not applied; the version served stays"
    return Response(body(422, detail, extra, result=report), status_code=422)


@post(f"{DEFS}/reload", tags=["definitions"], status_code=200, responses=errors(403, 422))
async def reload_now(request: Request[Any, Any, Any]) -> Response[Any]:
    """Reload the definitions folder now; 422 (with every problem) if it was not applied."""
    return await _reload(request)


@post("/admin/reload", tags=["definitions"], status_code=200, responses=errors(403, 422))
async def admin_reload(request: Request[Any, Any, Any]) -> Response[Any]:
    """Reload the definitions folder now (the same as `POST /api/v1/definitions/reload`)."""
    return await _reload(request)


# -- validating an upload --------------------------------------------------------------


@post(f"{DEFS}/validate", tags=["definitions"], status_code=200, responses=errors(403))
async def validate(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Compile an uploaded bundle and pre-flight it, without applying it.

    Send a zip (multipart field `file`, or the body as `application/zip`) and/or a JSON
    object `{"files": {"forms/lead.yaml": "kind: form ..."}}` (as the body, or as the
    multipart field `files`); JSON files are laid over the zip's.
    """
    server, bundle = _definitions(request, "validate definitions")
    files = await _upload(request)
    report = await anyio.to_thread.run_sync(_check, server, bundle, files)
    return await _examples_seen(request, report, caller(request))


async def _upload(request: Request[Any, Any, Any]) -> dict[str, bytes]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    files: dict[str, bytes] = {}
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is not None:
            raw = await upload.read() if hasattr(upload, "read") else str(upload).encode()
            files.update(_unzip(raw))
        if form.get("files") is not None:
            files.update(_json_files(_parse_json(str(form.get("files")))))
    elif kind in ("application/zip", "application/x-zip-compressed"):
        files.update(_unzip(await request.body()))
    elif kind == "application/json":
        files.update(_json_files(_parse_json((await request.body()).decode("utf-8", "replace"))))
    else:
        _bad("content-type", "send a zip (multipart 'file' or application/zip) or JSON files")
    if not files:
        _bad("files", "the upload holds no definition files (.yaml, .yml)")
    return _strip_top(files)


def _bad(key: str, message: str) -> None:
    raise ClientException(
        f"bad upload: {message}", extra=[{"key": key, "message": message, "source": "body"}]
    )


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        _bad("files", f"not JSON: {exc}")
        return None


def _json_files(data: Any) -> dict[str, bytes]:
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        _bad("files", 'expected {"files": {"path.yaml": "text", ...}}')
        return {}
    return {_safe_path(str(k)): v.encode() for k, v in files.items()}


def _safe_path(name: str) -> str:
    """Return a relative POSIX path inside the bundle; refuse anything that could leave it."""
    path = PurePosixPath(name.replace("\\", "/"))
    if (
        not name
        or not path.parts
        or path.parts == (".",)
        or path.is_absolute()
        or ":" in path.parts[0]
        or any(p in ("..", "") for p in path.parts)
        or "\0" in name
    ):
        _bad("files", f"'{name[:80]}' is not a relative path inside the bundle")
    if len(name) > 300 or any(len(p.encode()) > 200 for p in path.parts):
        _bad("files", f"'{name[:80]}' is too long (300 characters, 200 bytes a part)")
    return path.as_posix()


def _unzip(raw: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError):
        _bad("file", "not a zip archive")
        return {}
    files: dict[str, bytes] = {}
    total = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = _safe_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                _bad("file", f"'{name}' is a symbolic link")
            if PurePosixPath(name).suffix not in YAML_SUFFIXES:
                continue
            if len(files) >= MAX_FILES:
                _bad("file", f"more than {MAX_FILES} definition files")
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                _bad("file", f"'{name}' cannot be read: {exc}")
            if len(data) > MAX_FILE_BYTES:
                _bad("file", f"'{name}' is larger than {MAX_FILE_BYTES // 1024} KiB")
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                _bad("file", f"the bundle unpacks to more than {MAX_TOTAL_BYTES // 2**20} MiB")
            files[name] = data
    return files


def _strip_top(files: dict[str, bytes]) -> dict[str, bytes]:
    """Drop one folder that holds everything (a zip of `definitions/`), as served."""
    tops = {PurePosixPath(n).parts[0] for n in files}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in files):
        return {PurePosixPath(*PurePosixPath(n).parts[1:]).as_posix(): v for n, v in files.items()}
    return files


def _check(server: Server, served: Bundle, files: dict[str, bytes]) -> dict[str, Any]:
    if len(files) > MAX_FILES:
        _bad("files", f"more than {MAX_FILES} definition files")
    if sum(len(v) for v in files.values()) > MAX_TOTAL_BYTES:
        _bad("files", f"the bundle is larger than {MAX_TOTAL_BYTES // 2**20} MiB")
    folders = {str(p) for n in files for p in PurePosixPath(n).parents}
    clash = sorted(n for n in files if n in folders)
    if clash:
        _bad("files", f"'{clash[0]}' is both a file and a folder of the upload")
    root = Path(tempfile.mkdtemp(prefix="sopflow-validate-"))
    try:
        for name, data in files.items():
            target = (root / name).resolve()
            if not target.is_relative_to(root.resolve()):
                _bad("files", f"'{name}' is not inside the bundle")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            except OSError as exc:
                _bad("files", f"'{name[:80]}' cannot be unpacked: {exc.strerror or exc}")
        result = compile_bundle(root, display_root="")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bundle = result.bundle
    findings = preflight(server.store, served, bundle) if bundle is not None else []
    count = sum(1 for d in result.diagnostics if d.severity is Severity.ERROR)
    return {
        "ok": bundle is not None and not blocking(findings),
        "hash": bundle.hash if bundle else None,
        "summary": bundle.summary() if bundle else None,
        "files": result.files,
        "errors": count,
        "warnings": len(result.diagnostics) - count,
        "diagnostics": [located(d.to_dict()) for d in result.diagnostics],
        "preflight": [f.to_dict() for f in findings],
        "changes": changes(served, bundle) if bundle is not None else {},
    }


# -- re-evaluation on model change -------------------------------------------------------


@get(f"{API}/reevaluations", tags=["definitions"], responses=errors(403))
async def reevaluations(
    request: Request[Any, Any, Any],
    job_state: Annotated[
        Literal["queued", "running", "done", "superseded"] | None, QueryParameter(name="state")
    ] = None,
    limit: Annotated[int, QueryParameter(schema_extra={"minimum": 1, "maximum": 500})] = 50,
) -> list[dict[str, Any]]:
    """Return re-evaluation jobs, newest first: rule, version, done/total, state, times.

    `cursor` (the last record id a job went through) is null when the caller's row
    access (`permissions.rows`) leaves that record out."""
    if not 1 <= limit <= 500:
        raise ClientException(
            "limit must be between 1 and 500",
            extra=[{"key": "limit", "message": f"{limit} is out of 1..500", "source": "query"}],
        )
    _definitions(request, "read the re-evaluation jobs")  # refuses the roles not allowed
    runtime, bundle = runtime_of(request)
    who = caller(request)

    def read(conn: Any) -> list[dict[str, Any]]:
        jobs = listing(conn, state=job_state, limit=limit)
        for job in jobs:  # a record id the caller's rows leave out is not shown
            if not rows.record_visible(conn, bundle, job.get("cursor"), who.user, who.roles):
                job["cursor"] = None
        return jobs

    found: list[dict[str, Any]] = await call(reports.read, runtime.store, read)
    return found


# -- the language ----------------------------------------------------------------------


@get(f"{DEFS}/schema", tags=["definitions"], sync_to_thread=False)
def schema(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return the JSON Schema of definition files (for editors); any authenticated user."""
    caller(request)
    return definition_schema()


ROUTES = [
    current,
    history,
    last_reload,
    reload_now,
    admin_reload,
    validate,
    schema,
    reevaluations,
]
