"""A record's attached files as the evidence rules see them.

A file counts once however often it is attached (its content sha256 is what counts),
and by default only while the record stays where it was attached: the ids of the files
attached during a stay are kept on that stay's history row (`evidence_ids`), so a record
that comes back to a stage starts again from nothing there (`from: current_stay`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from engine.bundle import Bundle
from engine.spec import FormSpec
from engine.spec.workflow import ExitSpec, StageSpec
from runtime.errors import Invalid, Problem, Refused
from runtime.evidence import Media, accepts
from runtime.records import RecordView
from runtime.store import py_json, run_sql

STAYS: tuple[str, ...] = ("current_stay", "any_stay")


@dataclass(frozen=True)
class Attached:
    """One attachment of a record: its id, kind, media type, content digest, and stay."""

    id: str
    kind: str
    media_type: str
    sha256: str
    current: bool


# Hand-written (runtime/store.py): every move with an evidence gate reads these.
_STAY_FILES = (
    "SELECT evidence_ids FROM sf_stage_history WHERE record_id = :record_id "
    "AND left_at IS NULL LIMIT 1"
)
_FILES = (
    "SELECT id, kind, media_type, sha256 FROM sf_evidence WHERE record_id = :record_id "
    "ORDER BY uploaded_at, id"
)


def attached(conn: Connection, record_id: str, *, stays: bool = True) -> list[Attached]:
    """Return every file attached to a record, marking those of its current stay.

    A record outside any workflow has no stays: all its files are of its current stay.
    With `stays=False` the stay is not read (for `any_stay` counts) and every file is
    marked current.
    """
    stay = None
    if stays:
        stay = run_sql(conn, _STAY_FILES, {"record_id": record_id}).fetchone()
    current = set(py_json(stay[0]) or []) if stay is not None else None
    rows = run_sql(conn, _FILES, {"record_id": record_id}).rows
    return [
        Attached(fid, kind, media, sha, current is None or fid in current)
        for fid, kind, media, sha in rows
    ]


def distinct(
    files: Iterable[Attached], kind: str, types: Iterable[str] = (), stays: str = "current_stay"
) -> set[str]:
    """Return the digests of the distinct files of a kind that count (types, stays)."""
    patterns = list(types)
    return {
        f.sha256
        for f in files
        if f.kind == kind and accepts(f.media_type, patterns) and (stays == "any_stay" or f.current)
    }


def count(conn: Connection, record_id: str | None, kind: str, stays: str | None) -> int:
    """Return how many distinct files of a kind a record holds (`evidence_count()`)."""
    where = stays or "current_stay"
    if where not in STAYS:
        raise ValueError(f"evidence_count() counts 'current_stay' or 'any_stay', not {where!r}")
    if record_id is None:
        return 0
    files = attached(conn, record_id, stays=where == "current_stay")
    return len(distinct(files, kind, (), where))


def field_value(current: Any, files: Iterable[Attached], kind: str, new: Attached) -> list[str]:
    """Return an evidence field's value after `new` was attached: one id per distinct file."""
    ids = [str(i) for i in current] if isinstance(current, list) else []
    by_id = {f.id: f.sha256 for f in files}
    if new.sha256 not in {by_id.get(i) for i in ids}:
        ids.append(new.id)
    return ids


def check_field_values(
    conn: Connection, record_id: str | None, form: FormSpec, data: Mapping[str, Any]
) -> None:
    """Refuse evidence-field values that are not ids of this record's files of that kind."""
    names = [n for n in data if n in form.fields and form.fields[n].type == "evidence"]
    wanted = {n: data[n] for n in names if data[n] not in (None, [])}
    if not wanted:
        return
    files = {f.id: f for f in attached(conn, record_id)} if record_id else {}
    problems: list[Problem] = []
    for name, value in wanted.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            found = files.get(item) if isinstance(item, str) else None
            if found is None or found.kind != name:
                problems.append(
                    Problem(
                        "not-attached",
                        f"'{name}' lists {item!r}, which is not a file attached to this "
                        f"record as '{name}'; attach the file as '{name}' and its id is added",
                        name,
                    )
                )
    if problems:
        headline = (
            problems[0].message
            if len(problems) == 1
            else f"{len(problems)} evidence values name no file attached to this record"
        )
        raise Invalid(headline, problems)


def check_max(
    gate: StageSpec | ExitSpec | None,
    files: Iterable[Attached],
    kind: str,
    sha256: str,
    media_type: str,
) -> None:
    """Refuse a new file of a kind whose `max` the record's current stage has reached.

    `gate` is the stage the record is in (None outside a workflow). A repeat of a file
    already counted adds nothing and is let through; so is a file the requirement's
    `types` do not take (it does not count there).
    """
    needs = gate.evidence if gate is not None else []
    need = next((e for e in needs if e.kind == kind), None)
    if gate is None or need is None or need.max is None or not accepts(media_type, need.types):
        return
    have = distinct(files, kind, need.types, need.from_stays)
    if sha256 in have or len(have) < need.max:
        return
    title = need.title or kind
    raise Refused(
        f"{title}: {len(have)} attached, at most {need.max}",
        [
            Problem(
                "too-much-evidence",
                f"'{gate.id}' takes at most {need.max} {title} files; "
                f"{len(have)} are attached already",
                detail={"kind": kind, "have": len(have), "max": need.max},
            )
        ],
    )


def _branch_evidence(gates: list[StageSpec | ExitSpec]) -> list[Any]:
    """Return the evidence requirements of the stages' branches (runtime/approvals.py)."""
    return [
        e
        for g in gates
        if isinstance(g, StageSpec) and g.branches is not None
        for b in g.branches.items
        for e in b.evidence
    ]


def check_kind(bundle: Bundle, view: RecordView, kind: str, media: Media) -> None:
    """Refuse a file that is no evidence kind of the record, or not of a type it takes.

    A kind that lists media types (a stage's `types`, an evidence field's `accept`)
    takes only a file whose bytes confirm one of them: markup a browser would run (an
    SVG, an HTML page, XML) and bytes the sniffer does not recognise are refused,
    whatever the file's name or declared type. A kind that lists none takes any file.
    """
    wf = bundle.workflows.get(view.workflow or "")
    gates: list[StageSpec | ExitSpec] = [*wf.body.stages, *wf.body.exits] if wf else []
    kinds = [*(e for g in gates for e in g.evidence), *_branch_evidence(gates)]
    needs = [e for e in kinds if e.kind == kind]
    fields = bundle.forms[view.entity].spec.fields
    field = fields.get(kind)
    if not needs and not (field and field.type == "evidence"):
        known = sorted(
            {e.kind for e in kinds} | {n for n, f in fields.items() if f.type == "evidence"}
        )
        raise Invalid(
            f"'{kind}' is not an evidence kind of this record",
            [Problem("unknown-evidence", f"known kinds: {', '.join(known) or 'none'}")],
        )
    patterns = [t for e in needs for t in e.types] + (list(field.accept) if field else [])
    if not patterns:
        return
    listed = ", ".join(patterns)
    got = {"got": media.type, "declared": media.declared}
    if media.active is not None:
        raise Invalid(
            f"the file is {media.active}; {kind} takes {listed}, and never active content",
            [Problem("active-content", f"accepted: {listed}", detail=got)],
        )
    if not media.confirmed:
        raise Invalid(
            f"the file's content is not of a type the server recognises, whatever its name "
            f"or declared type ({media.declared or 'none'}); {kind} takes {listed}",
            [Problem("unrecognised-content", f"accepted: {listed}", detail=got)],
        )
    if not accepts(media.type, patterns):
        raise Invalid(
            f"a {media.type} file is not accepted as {kind}",
            [Problem("media-type", f"accepted: {listed}", detail={"got": media.type})],
        )
