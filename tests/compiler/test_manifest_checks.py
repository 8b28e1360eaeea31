"""The manifest's cross-checks: roles, user attributes against user_fields, and table rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.compiler.check_manifest import value_fits
from tests.runtime.small import diagnostics

HEAD = "kind: bundle\nversion: 1\nname: small\ntimezone: UTC\n"


def test_a_bundle_without_roles_is_an_error(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, {"bundle.yaml": HEAD + "roles: {}\n"}) == [
        "bundle.yaml:5:8: error[no-roles]: the bundle declares no roles "
        "(list at least one, e.g. roles: [admin])"
    ]


def test_user_attributes_must_fit_their_user_fields(tmp_path: Path) -> None:
    manifest = HEAD + (
        "roles: {rep: {title: Rep}}\n"
        "user_fields:\n"
        "  langs: {type: list}\n"
        "  tier: {type: enum, values: [gold, silver]}\n"
        "  seats: {type: integer}\n"
        "  region: {type: string}\n"
        "users:\n"
        "  ann: {name: Ann, langs: en, tier: bronze, seats: true}\n"
        "  bob: {name: Bob, langs: [en, 3], tier: gold, seats: 2.5, region: [a, b]}\n"
        "  cy: {name: Cy, langs: [en], tier: silver, seats: 2, region: '7'}\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": manifest}) == [
        "bundle.yaml:12:27: error[bad-type]: user attribute 'langs' must be a list",
        "bundle.yaml:12:37: error[unknown-enum-value]: value of 'tier' 'bronze' is not defined "
        "(known: 'gold', 'silver')",
        "bundle.yaml:12:52: error[bad-type]: user attribute 'seats' takes integer values, got true",
        "bundle.yaml:13:32: error[bad-type]: user attribute 'langs' takes string items, got 3",
        "bundle.yaml:13:55: error[bad-type]: user attribute 'seats' takes integer values, got 2.5",
        "bundle.yaml:13:68: error[bad-type]: user attribute 'region' takes one string value, "
        "not a list",
    ]


def test_table_rows_range_and_default_must_fit_the_columns(tmp_path: Path) -> None:
    manifest = HEAD + (
        "roles: {rep: {title: Rep}}\n"
        "tables:\n"
        "  spans:\n"
        "    range: [from, upto]\n"
        "    columns: {from: date, upto: string, rate: decimal}\n"
        "    rows:\n"
        "      - {from: 2026-01-01, upto: x, rate: 1.5}\n"
        "      - from: 2026-02-01T10:00:00\n"
        "        upto: y\n"
        "    default: {rate: '1.5'}\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": manifest}) == [
        "bundle.yaml:8:19: error[bad-type]: range column 'upto' must be a date",
        "bundle.yaml:12:15: error[bad-type]: column 'from' of table 'spans' takes date values, "
        'got "2026-02-01 10:00:00"',
        "bundle.yaml:14:21: error[bad-type]: column 'rate' of table 'spans' takes decimal "
        "values, got '1.5'",
    ]


def test_a_mapping_in_a_key_column_is_refused_and_still_compared(tmp_path: Path) -> None:
    manifest = HEAD + (
        "roles: {rep: {title: Rep}}\n"
        "tables:\n"
        "  keyed:\n"
        "    key: [code]\n"
        "    columns: {code: string, n: integer}\n"
        "    rows:\n"
        "      - {code: {a: 1}, n: 1}\n"
        "      - {code: {a: 1}, n: 2}\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": manifest}) == [
        "bundle.yaml:11:16: error[bad-type]: column 'code' of table 'keyed' takes string "
        'values, got {"a": 1}',
        "bundle.yaml:12:9: error[duplicate-row]: row 2 of table 'keyed' repeats the key "
        '[[["a", 1]]] (first in row 1)',
        "bundle.yaml:12:16: error[bad-type]: column 'code' of table 'keyed' takes string "
        'values, got {"a": 1}',
    ]


@pytest.mark.parametrize(
    ("kind", "value", "fits"),
    [
        ("integer", 3, True),
        ("integer", True, False),
        ("decimal", False, False),
        ("decimal", 2, True),
        ("boolean", True, True),
        ("date", dt.date(2026, 1, 1), True),
        ("date", dt.datetime(2026, 1, 1, 9), False),
        ("datetime", dt.datetime(2026, 1, 1, 9), True),
        ("string", None, True),
        ("list", "a", False),
        ("unheard_of", object(), True),
    ],
)
def test_value_fits_reads_yaml_values_by_type_name(kind: str, value: object, fits: bool) -> None:
    assert value_fits(kind, value) is fits


INBOUND_FORMS = {
    "forms/customer.yaml": (
        "kind: form\nversion: 1\nentity: customer\nkey: [code, region]\n"
        "fields:\n  code: {type: string}\n  region: {type: string}\n  phone: {type: string}\n"
        "  score: {type: integer, computed: '1'}\n"
    ),
    "forms/note.yaml": "kind: form\nversion: 1\nentity: note\nfields:\n  text: {type: string}\n",
}


def test_inbound_declarations_are_checked_where_they_are_written(tmp_path: Path) -> None:
    manifest = HEAD + (
        "roles: [admin]\n"
        "inbound:\n"
        "  crm:\n"  # 7
        "    entity: customr\n"
        "    fields: [code]\n"
        "  chat:\n"  # 10
        "    entity: customer\n"
        "    fields: [code, phon, score, phone, phone]\n"
        "  notes:\n"  # 13
        "    entity: note\n"
        "    fields: [text]\n"
        "    secret_env: notes-secret\n"
        "  chat_two:\n"  # 17
        "    entity: customer\n"
        "    fields: [code, region]\n"
        "    secret_env: SOPFLOW_INBOUND_SECRET_CHAT\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": manifest, **INBOUND_FORMS}) == [
        "bundle.yaml:8:13: error[unknown-entity]: entity 'customr' is not defined "
        "(did you mean 'customer'?)",
        "bundle.yaml:12:13: error[key-not-listed]: inbound 'chat' does not let the sender give "
        "the key field 'region' of 'customer' (add region to 'fields': a push finds its record "
        "by the key)",
        "bundle.yaml:12:20: error[unknown-field]: entity 'customer': field 'phon' is not defined "
        "(did you mean 'phone'?)",
        "bundle.yaml:12:26: error[computed-field]: field 'score' is computed: no sender can set "
        "it (leave it out of 'fields')",
        "bundle.yaml:12:40: error[duplicate-field]: field 'phone' is listed twice",
        "bundle.yaml:14:13: error[no-key]: entity 'note' declares no key, so a push cannot find "
        "its record (add 'key: [field, ...]' to the form of 'note')",
        "bundle.yaml:16:17: error[bad-env-name]: 'notes-secret' is not a variable for an "
        "inbound secret (a name starting SOPFLOW_INBOUND_SECRET_, in capital letters, digits "
        "and '_', e.g. SOPFLOW_INBOUND_SECRET_WECOM: no other variable of the server's "
        "environment may become a signing secret)",
        "bundle.yaml:20:17: error[shared-secret]: inbound 'chat_two' reads its secret from "
        "SOPFLOW_INBOUND_SECRET_CHAT, as inbound 'chat' does (give each sender a secret of its "
        "own, so the audit tells who sent what)",
    ]


def test_an_inbound_name_given_twice_is_a_duplicate_key(tmp_path: Path) -> None:
    manifest = HEAD + (
        "roles: [admin]\n"
        "inbound:\n"
        "  chat: {entity: customer, fields: [code, region]}\n"
        "  chat: {entity: customer, fields: [code, region, phone]}\n"
    )
    found = diagnostics(tmp_path, {"bundle.yaml": manifest, **INBOUND_FORMS})
    assert len(found) == 1 and found[0].startswith("bundle.yaml:8:3: error[yaml-duplicate-key]")
    assert "'chat'" in found[0]


def test_inbound_needs_an_entity_and_at_least_one_field(tmp_path: Path) -> None:
    manifest = HEAD + "roles: [admin]\ninbound:\n  chat: {fields: []}\n"
    found = diagnostics(tmp_path, {"bundle.yaml": manifest, **INBOUND_FORMS})
    assert found == [
        "bundle.yaml:7:9: error[missing-key]: 'inbound.chat' is missing required key 'entity'",
        "bundle.yaml:7:18: error[invalid]: 'inbound.chat.fields' needs at least this many "
        "items: 1, got 0",
    ]


def test_an_inbound_name_must_leave_room_for_its_actor(tmp_path: Path) -> None:
    long = "a" * 57
    manifest = HEAD + (
        f"roles: [admin]\ninbound:\n  {long}:\n    entity: customer\n"
        "    fields: [code, region]\n"
        f"  {'b' * 56}:\n    entity: customer\n    fields: [code, region]\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": manifest, **INBOUND_FORMS}) == [
        f"bundle.yaml:7:3: error[name-too-long]: inbound name '{long}' has 57 characters; "
        "at most 56 (the audit records the sender as 'inbound:<name>', at most 64 characters)"
    ]


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ("HOME", True),  # a variable every server has: anyone could sign with its value
        ("ERP_PUSH_SECRET", True),
        ("SOPFLOW_INBOUND_SECRET_", True),  # the prefix alone names no sender
        ("SOPFLOW_INBOUND_SECRET_ERP", False),
    ],
)
def test_an_inbound_secret_is_read_only_from_a_variable_meant_for_one(
    tmp_path: Path, env: str, refused: bool
) -> None:
    manifest = HEAD + (
        "roles: [admin]\n"
        f"inbound:\n  erp: {{entity: customer, fields: [code, region], secret_env: {env}}}\n"
    )
    found = diagnostics(tmp_path, {"bundle.yaml": manifest, **INBOUND_FORMS})
    codes = [d.split("error[")[1].split("]")[0] for d in found]
    assert codes == (["bad-env-name"] if refused else [])
