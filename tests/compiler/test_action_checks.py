"""Actions that need a record, and fields an action sets, checked at compile time."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.small import diagnostics

LEAD = "kind: form\nversion: 1\nentity: lead\nfields:\n  size: {type: integer}\n"
NOTE = "kind: notification\nversion: 1\nname: hello\nsubject: hi\nbody: there\n"


def test_a_schedule_has_no_record_to_notify_about_or_set(tmp_path: Path) -> None:
    schedule = (
        "kind: schedule\nversion: 1\nname: s\nevery: 1h\nactions:\n"
        '  - notify: {to: [owner.manager, "role:rep"], template: hello}\n'
        '  - set: {fields: {size: "1"}}\n'
    )
    files = {"forms/lead.yaml": LEAD, "notes.yaml": NOTE, "s.yaml": schedule}
    assert diagnostics(tmp_path, files) == [
        "s.yaml:6:19: error[no-record]: 'owner.manager' needs a record, and this action has "
        "none (send to a role, team or user)",
        "s.yaml:7:10: error[no-record]: 'set' needs a record, and this action has none",
    ]


def test_set_names_fields_of_the_record(tmp_path: Path) -> None:
    flow = (
        "kind: workflow\nversion: 1\nname: flow\nentity: lead\nstages:\n  - id: new\n"
        "    on_enter:\n"
        '      - set: {fields: {sise: "1", size: "size + 1"}}\n'
    )
    assert diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "workflows/flow.yaml": flow}) == [
        "workflows/flow.yaml:8:24: error[unknown-field]: entity 'lead': field 'sise' is not "
        "defined (did you mean 'size'?)"
    ]


def test_create_record_names_fields_of_the_entity_it_creates(tmp_path: Path) -> None:
    schedule = (
        "kind: schedule\nversion: 1\nname: s\nevery: 1h\nactions:\n"
        '  - create_record: {entity: lead, data: {sise: "1", size: "2"}}\n'
    )
    assert diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "s.yaml": schedule}) == [
        "s.yaml:6:42: error[unknown-field]: entity 'lead': field 'sise' is not defined "
        "(did you mean 'size'?)"
    ]
