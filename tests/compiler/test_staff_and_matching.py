"""Staff files (`kind: staff`) and `candidates.matching`: what the compiler refuses, where."""

from __future__ import annotations

from pathlib import Path

from engine.compiler.pipeline import compile_bundle
from tests.runtime.small import diagnostics, write

HEAD = "kind: bundle\nversion: 1\nname: small\ntimezone: UTC\n"
MANIFEST = HEAD + (
    "roles: {rep: {}, manager: {}}\n"
    "calendars: {office: {}}\n"
    "user_fields:\n"
    "  territory: {type: list}\n"
    "  tier: {type: enum, values: [gold, silver]}\n"
    "  seats: {type: integer}\n"
    "users:\n"
    "  boss: {roles: [manager]}\n"
    "teams:\n"
    "  core: {members: [boss]}\n"
    "queues: {waiting: {}}\n"
)
STAFF = "kind: staff\nversion: 1\n"


def test_staff_files_merge_into_the_manifest_after_its_own(tmp_path: Path) -> None:
    files = {
        "bundle.yaml": MANIFEST,
        "staff/b.yaml": STAFF + "users:\n  cy: {roles: [rep], manager: ann}\n",
        "staff/a.yaml": STAFF
        + "users:\n  ann: {roles: [rep], manager: boss, territory: [x], calendar: office}\n"
        "teams:\n  field: {members: [ann, cy, boss], lead: boss}\n",
    }
    result = compile_bundle(write(tmp_path, files))
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    manifest = result.bundle.manifest
    assert list(manifest.users) == ["boss", "ann", "cy"]  # the manifest, then file order
    assert list(manifest.teams) == ["core", "field"]
    assert manifest.users["ann"].model_extra == {"territory": ["x"]}
    assert "staff/a.yaml" in result.bundle.files


def test_a_user_or_team_declared_twice_names_both_places(tmp_path: Path) -> None:
    files = {
        "bundle.yaml": MANIFEST,
        "staff/a.yaml": STAFF + "users:\n  boss: {roles: [rep]}\n  ann: {roles: [rep]}\n",
        "staff/b.yaml": STAFF + "users:\n  ann: {roles: [rep]}\nteams:\n  core: {}\n",
    }
    assert diagnostics(tmp_path, files) == [
        "staff/a.yaml:4:3: error[duplicate-definition]: user 'boss' is declared twice: here "
        "and at bundle.yaml:12 (keep one of the two declarations (first at bundle.yaml:12))",
        "staff/b.yaml:4:3: error[duplicate-definition]: user 'ann' is declared twice: here "
        "and at staff/a.yaml:5 (keep one of the two declarations (first at staff/a.yaml:5))",
        "staff/b.yaml:6:3: error[duplicate-definition]: team 'core' is declared twice: here "
        "and at bundle.yaml:14 (keep one of the two declarations (first at bundle.yaml:14))",
    ]


def test_the_manifest_checks_apply_to_staff_entries_where_they_are_written(
    tmp_path: Path,
) -> None:
    staff = STAFF + (
        "users:\n"
        "  ann:\n"
        "    roles: [clerk]\n"
        "    manager: nobody\n"
        "    calendar: night\n"
        "    teams: [ghosts]\n"
        "    tier: bronze\n"
        "    seats: many\n"
        "    shoe_size: 42\n"
        "teams:\n"
        "  field: {members: [ann, zed], lead: zed}\n"
    )
    assert diagnostics(tmp_path, {"bundle.yaml": MANIFEST, "staff/a.yaml": staff}) == [
        "staff/a.yaml:5:13: error[unknown-reference]: role 'clerk' is not defined "
        "(known: 'manager', 'rep')",
        "staff/a.yaml:6:14: error[unknown-reference]: user 'nobody' is not defined "
        "(known: 'ann', 'boss')",
        "staff/a.yaml:7:15: error[unknown-reference]: calendar 'night' is not defined "
        "(known: 'office')",
        "staff/a.yaml:8:13: error[unknown-reference]: team 'ghosts' is not defined "
        "(known: 'core', 'field')",
        "staff/a.yaml:9:11: error[unknown-enum-value]: value of 'tier' 'bronze' is not "
        "defined (known: 'gold', 'silver')",
        "staff/a.yaml:10:12: error[bad-type]: user attribute 'seats' takes integer values, "
        "got 'many'",
        "staff/a.yaml:11:5: error[unknown-user-field]: user attribute 'shoe_size' is not "
        "defined (known: 'seats', 'territory', 'tier')",
        "staff/a.yaml:13:26: error[unknown-reference]: user 'zed' is not defined "
        "(known: 'ann', 'boss')",
        "staff/a.yaml:13:38: error[unknown-reference]: user 'zed' is not defined "
        "(known: 'ann', 'boss')",
    ]


def test_a_staff_file_with_a_broken_manifest_reports_no_echoes(tmp_path: Path) -> None:
    routing = (
        "kind: form\nversion: 1\nentity: lead\nfields: {area: {type: string}}\n---\n"
        "kind: routing\nversion: 1\nname: r\nentity: lead\n"
        "candidates: {users: [ann]}\nfallback_queue: waiting\n"
    )
    files = {
        "bundle.yaml": HEAD + "roles: {rep: {}}\nqueues: {waiting: {}}\nusers: 3\n",
        "staff.yaml": STAFF + "users:\n  ann: {roles: [rep]}\n",
        "rules.yaml": routing,
    }
    found = diagnostics(tmp_path, files)
    assert [d for d in found if "ann" in d] == []
    assert found and all(d.startswith("bundle.yaml") for d in found)


RULES = (
    "kind: form\nversion: 1\nentity: lead\n"
    "fields:\n"
    "  area: {type: string}\n"
    "  level: {type: enum, values: [gold, bronze]}\n"
    "  rank: {type: enum, values: [iron, tin]}\n"
    "  size: {type: integer}\n"
    "  tags: {type: list, of: string}\n"
    "---\n"
    "kind: routing\nversion: 1\nname: r\nentity: lead\n"
    "candidates:\n"
    "  role: rep\n"
    "  matching: {MATCHING}\n"
    "fallback_queue: waiting\n"
)


def _matching(tmp_path: Path, matching: str) -> list[str]:
    files = {"bundle.yaml": MANIFEST, "rules.yaml": RULES.replace("MATCHING", matching)}
    return diagnostics(tmp_path, files)


def test_matching_names_a_user_attribute_and_a_record_field_of_the_same_type(
    tmp_path: Path,
) -> None:
    assert _matching(tmp_path, "territory: area, tier: level, seats: size") == []
    assert _matching(tmp_path, "territry: area, tier: lvl") == [
        "rules.yaml:17:14: error[unknown-user-field]: user attribute 'territry' is not "
        "defined (did you mean 'territory'?)",
        "rules.yaml:17:36: error[unknown-field]: entity 'lead': field 'lvl' is not defined "
        "(did you mean 'level'?)",
    ]


def test_matching_refuses_types_no_value_can_match(tmp_path: Path) -> None:
    assert _matching(tmp_path, "territory: size, seats: area, tier: rank, region: tags") == [
        "rules.yaml:17:25: error[type-mismatch]: user attribute 'territory' holds a list of "
        "string; field 'size' holds integer: no value of it can match (match an attribute "
        "and a field of the same type)",
        "rules.yaml:17:38: error[type-mismatch]: user attribute 'seats' holds integer; field "
        "'area' holds string: no value of it can match (match an attribute and a field of "
        "the same type)",
        "rules.yaml:17:50: error[type-mismatch]: user attribute 'tier' takes ['gold', "
        "'silver']; field 'rank' takes ['iron', 'tin']: no value of it can match (match an "
        "attribute and a field sharing values)",
        "rules.yaml:17:56: error[unknown-user-field]: user attribute 'region' is not defined "
        "(known: 'seats', 'territory', 'tier')",
    ]
    assert _matching(tmp_path, "territory: tags") == [
        "rules.yaml:17:25: error[type-mismatch]: field 'tags' holds a list (list of string); "
        "matching compares one record value with each candidate's attribute (match on a "
        "field holding one value)",
    ]
