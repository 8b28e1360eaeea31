"""A refusal names no record the caller's row-level access hides (runtime/integrity.py).

On SQLite and PostgreSQL: a rep who sees only their own accounts learns that a key or a
unique value is taken, not which record holds it; a manager who sees every account is
told the record, as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Invalid, Taken
from runtime.store import Store
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: hidden-holders
timezone: UTC
roles: [rep, manager]
users:
  ann: {name: Ann, roles: [rep]}
  bob: {name: Bob, roles: [rep]}
  max: {name: Max, roles: [manager]}
""",
    "forms/account.yaml": """
kind: form
version: 1
entity: account
key: [code]
fields:
  code: {type: string, required: true}
  tax_id: {type: string, unique: true}
permissions:
  rows: {rep: assigned}
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("hidden_holders"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def test_a_taken_key_or_value_of_a_hidden_record_is_not_named(rt: Runtime) -> None:
    held = rt.create("account", {"code": "A-1", "tax_id": "T-9"}, actor="ann")
    rt.assign(held.id, user="ann", actor="max")
    with pytest.raises(Taken) as taken:
        rt.create("account", {"code": "A-1"}, actor="bob")
    assert taken.value.existing == "" and held.id not in taken.value.message
    assert [(p.code, p.message, p.detail) for p in taken.value.problems] == [
        ("duplicate-key", "another account record has this key", {"key": {"code": "A-1"}})
    ]
    with pytest.raises(Invalid) as invalid:
        rt.create("account", {"code": "B-2", "tax_id": "T-9"}, actor="bob")
    assert [(p.code, p.message, p.detail) for p in invalid.value.problems] == [
        ("not-unique", "tax_id: 'T-9' is already used by another account record", {})
    ]
    with pytest.raises(Taken) as seen:  # the manager sees every account: it is named
        rt.create("account", {"code": "A-1"}, actor="max")
    assert seen.value.existing == held.id
    assert seen.value.problems[0].detail == {"record": held.id, "key": {"code": "A-1"}}
    with pytest.raises(Invalid) as named:
        rt.create("account", {"code": "C-3", "tax_id": "T-9"}, actor="ann")  # her own
    assert named.value.problems[0].message == (
        f"tax_id: 'T-9' is already used by account record '{held.id}'"
    )
