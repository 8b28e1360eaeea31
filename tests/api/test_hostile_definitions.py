"""Hostile expressions loaded into a running server (issue 10): the reload is refused with
each expression's located diagnostic, and nothing stored changes.

The served version, its history and the records stay exactly as they were; a new command
still runs on the old version. The expressions and their issues: tests/fuzz/hostile.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from runtime.store import T_BUNDLE, T_RECORD
from tests.api.conftest import Api
from tests.fuzz.hostile import VALUE_COL, in_bundle, validations

MakeApi = Callable[..., Api]


def _rows(api: Api, table: Any) -> int:
    with api.server.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_hostile_expressions_are_refused_where_they_stand_and_nothing_changes(
    make_api: MakeApi,
) -> None:
    api = make_api()
    runtime = api.server.runtime
    assert runtime is not None and api.server.bundle is not None
    served, history = api.server.bundle.hash, api.server.versions()
    values = {"source": "web_form", "external_id": "h1", "pharmacy_name": "Kangle"}
    lead = runtime.get(runtime.create("lead", values, actor="admin").id)
    records, versions = _rows(api, T_RECORD), _rows(api, T_BUNDLE)
    cases = in_bundle()
    text = "---\n".join(validations([s for s, _ in cases]))
    (api.directory / "rules" / "hostile.yaml").write_text(text, encoding="utf-8")

    result = api.server.reload("api", "admin")

    assert not result.applied
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("refuse_if: ")]
    found = {
        (d["line"], d["col"], d["code"], d["message"])
        for d in result.diagnostics
        if d["path"].endswith("rules/hostile.yaml")
    }
    expected = {
        (row, VALUE_COL + offset, code, message)
        for row, (_, issues) in zip(starts, cases, strict=True)
        for code, offset, message in issues
    }
    assert expected - found == set()
    assert {row for row, *_ in found} == set(starts)
    assert all(d["path"].endswith("rules/hostile.yaml") for d in result.diagnostics)
    # Nothing stored changed, and the old version still serves.
    assert (api.server.bundle.hash, api.server.versions()) == (served, history)
    assert (_rows(api, T_RECORD), _rows(api, T_BUNDLE)) == (records, versions)
    assert runtime.get(lead.id) == lead
    changed = runtime.update(lead.id, {"pharmacy_name": "Kangle 2"}, actor="admin")
    assert (changed.row_version, changed.data["pharmacy_name"]) == (
        lead.row_version + 1,
        "Kangle 2",
    )
