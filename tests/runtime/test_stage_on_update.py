"""A stage's `on_update` actions (runtime/changes.py), on SQLite and PostgreSQL.

What the actions set is checked like any save: a value another record holds in a
`unique` field refuses the whole change, and nothing of it is stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Conflict, Invalid, Refused
from runtime.store import Store
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: on-update
timezone: UTC
roles: [rep]
users:
  ann: {name: Ann, roles: [rep]}
""",
    "forms/box.yaml": """
kind: form
version: 1
entity: box
fields:
  label: {type: string}
  code: {type: string, unique: true}
  edits: {type: integer, default: 0}
""",
    "workflows/box_flow.yaml": """
kind: workflow
version: 1
name: box_flow
entity: box
stages:
  - id: packing
    on_update:
      - set: {fields: {code: "'BOX-' + label", edits: "edits + 1"}}
  - id: shipped
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("on_update"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def test_what_on_update_sets_is_checked_like_any_save(rt: Runtime) -> None:
    first = rt.create("box", {"label": "a"}, actor="ann")
    assert first.data.get("code") is None  # a create is no update
    first = rt.update(first.id, {"label": "red"}, actor="ann")
    assert (first.data["code"], first.data["edits"]) == ("BOX-red", 1)
    second = rt.create("box", {"label": "b"}, actor="ann")
    with pytest.raises((Invalid, Refused, Conflict)) as caught:
        rt.update(second.id, {"label": "red"}, actor="ann")  # its code would be BOX-red too
    assert [p.code for p in caught.value.problems] == ["not-unique"]
    kept = rt.get(second.id)
    assert (kept.data["label"], kept.data.get("code"), kept.data["edits"]) == ("b", None, 0)
    moved = rt.transition(second.id, "shipped", actor="ann")
    assert rt.update(moved.id, {"label": "red"}, actor="ann").data.get("code") is None
