"""Templates that shape structure: `include_if` decided once per workflow made from a template."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from engine.catalog import workflow_outline
from engine.compiler import include_if
from engine.compiler.include_if import Choice, Pruning, includables
from engine.expr import Scope, compile_expression
from engine.spec.workflow import EvidenceRequirement
from tests.runtime.small import diagnostics, small_bundle

FORM = """\
kind: form
version: 1
entity: deal
fields:
  region: {type: enum, values: [east, west]}
  amount: {type: decimal}
"""


def template(stages: str, params: str = "  visit: {type: boolean, default: false}\n") -> str:
    return (
        "kind: workflow_template\nversion: 1\nname: t\nparams:\n"
        f"{params}workflow:\n  entity: deal\n  stages:\n{stages}"
    )


def instance(name: str, params: str) -> str:
    return f"---\nkind: workflow\nversion: 1\nname: {name}\ntemplate: t\nparams: {params}\n"


VISIT_FIRST = """\
    - id: visit
      include_if: "params.visit"
    - id: contract
      guards:
        - {refuse_if: "region == params.region", message: "no"}
"""
REGION = "  region: {type: string, default: east}\n  visit: {type: boolean, default: false}\n"


def test_leaving_out_the_first_stage_starts_records_in_the_next(tmp_path: Path) -> None:
    text = template(VISIT_FIRST, REGION) + instance("plain", "{}")
    text += instance("visiting", "{visit: true}")
    bundle = small_bundle(tmp_path, {"f.yaml": FORM, "t.yaml": text})
    plain, visiting = bundle.workflows["plain"], bundle.workflows["visiting"]
    assert [s.id for s in plain.body.stages] == ["contract"]
    assert [s.id for s in visiting.body.stages] == ["visit", "contract"]
    assert visiting.may_move("visit", "contract") and not plain.may_move("visit", "contract")
    # Nothing left out: the instance shares the template's body.
    assert visiting.body is bundle.templates["t"].workflow
    assert plain.guards["contract.guards.0"] is not None
    outline = workflow_outline(bundle)
    assert [s["id"] for s in outline["plain"]["stages"]] == ["contract"]
    assert outline["visiting"]["stages"][1] == {
        "id": "contract",
        "evidence": [],
        "require": [],
        "guards": 1,
    }


def test_an_instance_error_after_a_left_out_stage_points_at_the_template_line(
    tmp_path: Path,
) -> None:
    # stages[0] is left out: the guard is the instance's stages[0], the template's stages[1].
    text = template(VISIT_FIRST, REGION) + instance("w", "{region: south}")
    assert diagnostics(tmp_path, {"f.yaml": FORM, "t.yaml": text}) == [
        "t.yaml:20:1: error[unknown-enum-value]: with these params, template 't' fails at "
        "t.yaml:14:34: 'south' is not a value of 'region' (values: east, west)"
    ]


def test_an_include_if_that_fails_on_the_params_is_reported_at_the_instance(
    tmp_path: Path,
) -> None:
    stages = """\
    - id: intake
    - id: legal
      include_if: "len(params.word * params.times) > 3"
"""
    params = "  word: {type: string}\n  times: {type: integer}\n"
    text = template(stages, params) + instance("w", "{word: ab, times: 200000}")
    text += instance("fine", "{word: ab, times: 2}")
    (line,) = diagnostics(tmp_path, {"f.yaml": FORM, "t.yaml": text})
    assert line == (
        "t.yaml:18:1: error[include-if-failed]: workflow 'w': with params times: 200000, word: ab, the "
        "include_if at t.yaml:12:19 fails: cannot evaluate 'len(params.word * params.times) > "
        "3': the result would be longer than 100000 characters or items"
    )


def test_a_wrong_include_if_is_reported_once_at_the_template_not_per_instance(
    tmp_path: Path,
) -> None:
    stages = """\
    - id: intake
    - id: visit
      include_if: "params.vist"
    - id: contract
      include_if: "not params.visit"
"""
    text = template(stages) + instance("a", "{}") + instance("b", "{visit: true}")
    assert diagnostics(tmp_path, {"f.yaml": FORM, "t.yaml": text}) == [
        "t.yaml:11:27: error[unknown-field]: 'vist' is not a field of template parameters "
        "(did you mean 'visit'?)"
    ]


def test_include_if_true_keeps_the_part_and_false_at_every_level_drops_it(
    tmp_path: Path,
) -> None:
    stages = """\
    - id: intake
      include_if: "not params.visit"
      evidence:
        - {kind: photo, include_if: "params.visit"}
    - id: contract
      evidence:
        - {kind: photo, include_if: "not params.visit"}
"""
    text = template(stages) + instance("a", "{visit: false}")
    bundle = small_bundle(tmp_path, {"f.yaml": FORM, "t.yaml": text})
    (intake, contract) = bundle.workflows["a"].body.stages
    assert (intake.id, intake.evidence, [e.kind for e in contract.evidence]) == (
        "intake",
        [],
        ["photo"],
    )


def test_a_list_its_model_needs_items_of_is_refused_when_every_item_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a stage's `branches.items` would be: here a stage's evidence made to need one."""

    def least(info: FieldInfo) -> int:
        return 1 if info.annotation == list[EvidenceRequirement] else 0

    monkeypatch.setattr(include_if, "_min_length", least)
    stages = """\
    - id: intake
      evidence:
        - {kind: photo, include_if: "params.visit"}
"""
    text = template(stages) + instance("a", "{}") + instance("b", "{visit: true}")
    assert diagnostics(tmp_path, {"f.yaml": FORM, "t.yaml": text}) == [
        "t.yaml:17:1: error[template-too-few]: workflow 'a': with params visit: false, template 't' leaves "
        "out too many items of 'stages[0].evidence': it needs at least 1 (keep enough of its "
        "items without include_if, or change the params)"
    ]


class _Part(BaseModel):
    name: str
    include_if: str | None = None


class _Holder(BaseModel):
    one: _Part | None = None
    many: dict[str, _Part] = {}
    tags: list[str] = []
    some: list[_Part] = Field(default_factory=list, min_length=1)


class _Root(BaseModel):
    holder: _Holder


def _drop_all(value: BaseModel) -> Pruning:
    expr = compile_expression("False", Scope(record={}))
    return Pruning({path: Choice(path, part, expr) for path, part, _ in includables(value)})


def test_pruning_is_generic_over_optional_parts_and_mappings() -> None:
    """A part that is a mapping value (a future `approval:`) or a named entry goes too."""
    holder = _Holder(
        one=_Part(name="a", include_if="false"),
        many={"x": _Part(name="x", include_if="false"), "y": _Part(name="y")},
        tags=["t"],
        some=[_Part(name="s")],
    )
    assert [p for p, _, _ in includables(holder)] == [("one",), ("many", "x")]
    pruning = _drop_all(holder)
    pruned = pruning.prune(holder, ())
    assert pruned.one is None and list(pruned.many) == ["y"] and pruned.tags is holder.tags
    assert pruned.some is holder.some
    assert len(pruning.left_out) == 2 and pruning.removed == {} and pruning.short == []
    assert Pruning({}).prune(holder, ()) is holder


def test_pruning_notes_a_list_left_shorter_than_its_model_allows() -> None:
    """E.g. every item of a stage's `branches.items` left out: the instance is refused."""
    root = _Root(holder=_Holder(some=[_Part(name="a", include_if="false")]))
    pruning = _drop_all(root)
    pruned = pruning.prune(root, ())
    assert pruned.holder.some == [] and root.holder.some != []
    assert pruning.short == [(("holder", "some"), 1)]
    assert pruning.removed == {("holder", "some"): {0}}
