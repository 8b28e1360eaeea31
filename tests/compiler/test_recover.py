"""A document with bad values is still checked without them (engine/compiler/recover.py)."""

from __future__ import annotations

from engine.compiler.recover import parse_partial
from engine.spec import BundleManifest, FormSpec, WorkflowSpec
from engine.yamlsource import Document, load_documents


def document(text: str) -> Document:
    docs, problems = load_documents("f.yaml", text.encode())
    assert problems == []
    return docs[0]


FORM = """\
kind: form
version: 1
entity: visit
title: Visit
fields:
  pharmacy: {type: string, max_length: many}
  tier: {type: enm}
  amount: {type: decimal}
"""


def test_a_valid_document_is_returned_whole_with_nothing_dropped() -> None:
    doc = document(FORM.replace("max_length: many", "max_length: 9").replace("enm", "string"))
    spec, problems, dropped, checked = parse_partial(doc)
    assert isinstance(spec, FormSpec) and problems == [] and dropped is None
    assert checked is doc


def test_a_bad_value_is_dropped_and_a_bad_entry_goes_with_its_name() -> None:
    spec, problems, dropped, _ = parse_partial(document(FORM))
    assert [d.code for d in problems] == ["bad-type", "bad-value"]
    assert isinstance(spec, FormSpec)
    assert list(spec.fields) == ["pharmacy", "amount"]
    assert spec.fields["pharmacy"].max_length is None  # the key goes, the field stays
    assert dropped == {"tier"}  # model keys ('max_length', 'type') are not names


def test_nothing_is_left_when_a_required_top_key_is_bad() -> None:
    spec, problems, dropped, _ = parse_partial(document(FORM.replace("entity: visit", "entity: 7")))
    assert spec is None
    assert [d.code for d in problems] == ["bad-type", "bad-type", "bad-value"]
    assert dropped == set()  # nothing was removed: the document is left out whole


def test_a_removed_list_item_renumbers_the_positions_of_the_next_ones() -> None:
    text = """\
kind: workflow
version: 1
name: visit
entity: visit
stages:
  - id: first
  - second
  - [third]
  - id: fourth
    require: [amount]
"""
    spec, _, dropped, checked = parse_partial(document(text))
    assert isinstance(spec, WorkflowSpec)
    assert [s.id for s in spec.stages] == ["first", "fourth"]
    assert dropped == {"second"}
    # stages[1] of the spec is the document's stages[3], on line 9.
    assert checked.locate(("stages", 1, "id")) == (9, 9)
    assert checked.locate(("stages", 1, "require", 0)) == (10, 15)
    assert checked.locate(("stages", 0, "id")) == (6, 9)


def test_a_bad_named_entry_of_the_manifest_is_left_out_by_name() -> None:
    text = """\
kind: bundle
version: 1
name: b
timezone: Asia/Shanghai
roles: [rep]
users:
  li.wei: {name: Li Wei, capacity: lots}
  wang.fang: [rep]
"""
    spec, _, dropped, _ = parse_partial(document(text))
    assert isinstance(spec, BundleManifest)
    assert list(spec.users) == ["li.wei"] and spec.users["li.wei"].capacity is None
    assert dropped == {"wang.fang"}  # the roles it listed are still defined
