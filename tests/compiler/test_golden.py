"""Golden tests: fixture bundles compile, or report exactly the diagnostics in expected.txt.

Each folder under tests/fixtures/definitions/ is one bundle, compiled with
`display_root=<folder name>`, so paths read `<case>/forms/lead.yaml:3:9: ...`.

- valid/<case>/: compiles with no diagnostic at all; EXPECTED_COUNTS says what it holds.
- invalid/<case>/: renders exactly the lines of its expected.txt, in the compiler's order.
  A case with only warnings (warnings_only) must still give a bundle.

expected.txt is reviewed text, never rewritten by a test run. After a deliberate message change,
`SOPFLOW_REGEN_GOLDEN=1 .venv/bin/pytest tests/compiler/test_golden.py` writes what the compiler
says now next to it as expected.txt.new and fails with the unified diff; read every changed line,
then `make accept-golden` moves the .new files into place (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import shutil
from pathlib import Path

import pytest

from engine.compiler.pipeline import CompileResult, compile_bundle
from engine.diagnostics import Severity
from engine.spec import KINDS
from engine.yamlsource import load_documents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "definitions"
REGEN = os.environ.get("SOPFLOW_REGEN_GOLDEN") == "1"

# What each valid bundle compiles to (Bundle.counts, zero counts left out).
EXPECTED_COUNTS: dict[str, dict[str, int]] = {
    "minimal": {"form": 1},
    "pharmacy_p4_p10": {"form": 1, "workflow": 1, "table": 2, "validation": 1},
    "routing_p3": {"form": 1, "scoring": 1, "routing": 1, "notification": 1},
    "tickets_f4": {"form": 1, "workflow": 1, "decision_table": 1, "notification": 2},
    "playbook_f3": {"form": 1, "workflow": 2, "workflow_template": 1, "notification": 1},
    "alerts_p5_f9": {
        "form": 2,
        "workflow": 1,
        "table": 2,
        "alert": 2,
        "metric": 2,
        "schedule": 2,
        "forecast": 1,
        "notification": 3,
    },
}


def compile_case(case: Path) -> CompileResult:
    """Compile a fixture folder with the golden display root (the folder's name)."""
    return compile_bundle(case, display_root=case.name)


def yaml_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.y*ml"))


# --- valid bundles ---------------------------------------------------------------------------


def test_valid_case_compiles_cleanly(valid_case: Path) -> None:
    result = compile_case(valid_case)
    assert [d.render() for d in result.diagnostics] == []
    assert result.ok and result.bundle is not None
    bundle = result.bundle
    assert {k: n for k, n in bundle.counts.items() if n} == EXPECTED_COUNTS[valid_case.name]
    assert sorted(Path(f).as_posix() for f in bundle.files) == yaml_files(valid_case)
    assert result.files == len(bundle.files)
    assert bundle.name == bundle.manifest.name


def test_every_valid_case_is_listed() -> None:
    assert sorted(EXPECTED_COUNTS) == [p.name for p in sorted((FIXTURES / "valid").iterdir())]


def test_valid_cases_use_every_kind() -> None:
    kinds = set()
    for case in (FIXTURES / "valid").iterdir():
        for path in case.rglob("*.yaml"):
            docs, problems = load_documents(path.name, path.read_bytes())
            assert problems == []
            kinds.update(doc.data["kind"] for doc in docs)
    assert kinds == set(KINDS)


def test_bundle_hash_is_stable_and_follows_content(tmp_path: Path) -> None:
    case = FIXTURES / "valid" / "pharmacy_p4_p10"
    first, second = compile_case(case).bundle, compile_case(case).bundle
    assert first is not None and second is not None
    assert len(first.hash) == 64 and first.hash == second.hash
    copy = tmp_path / "copy"
    shutil.copytree(case, copy)
    moved = compile_bundle(copy, display_root="elsewhere").bundle
    assert moved is not None and moved.hash == first.hash  # content counts, not location
    manifest = copy / "bundle.yaml"
    manifest.write_bytes(manifest.read_bytes().replace(b"38.5", b"38.6"))  # one byte
    changed = compile_bundle(copy).bundle
    assert changed is not None and changed.hash != first.hash
    manifest.write_bytes((case / "bundle.yaml").read_bytes())
    restored = compile_bundle(copy).bundle
    assert restored is not None and restored.hash == first.hash
    (copy / "rules" / "price_cap.yaml").rename(copy / "rules" / "price_caps.yaml")
    renamed = compile_bundle(copy).bundle
    assert renamed is not None and renamed.hash != first.hash  # file names count too


def test_pharmacy_workflow_guards_and_price_cap() -> None:
    bundle = compile_case(FIXTURES / "valid" / "pharmacy_p4_p10").bundle
    assert bundle is not None
    visit = bundle.workflows["pharmacy_visit"]
    assert [s.id for s in visit.body.stages] == [
        "appointment", "inventory_count", "competitor_analysis", "proposal_demo", "quote",
        "payment_tracking",
    ]  # fmt: skip
    assert visit.may_move("appointment", "inventory_count")
    assert not visit.may_move("appointment", "quote")
    assert visit.may_move("quote", "proposal_demo")  # the one allowed back-step
    assert visit.may_move("payment_tracking", "won") and not visit.may_move("quote", "won")
    shelf = visit.body.stages[1].evidence[0]
    assert (shelf.kind, shelf.min, shelf.types) == ("shelf_photo", 3, ["image/jpeg", "image/png"])
    guard = visit.guards["quote.guards.0"]
    over = {"quote_price": 40.0, "product_class": "herbal_pieces", "region": "sichuan"}
    under = {**over, "quote_price": 30.0}
    assert guard(over) is True and guard(under) is False
    rule, expr = bundle.validations["regional_price_cap"]
    assert rule.effective_from == dt.date(2026, 3, 1) and rule.stages == ["quote"]
    assert expr(over) is True
    assert bundle.forms["opportunity"].types["product_class"].values == (
        "herbal_pieces",
        "antibiotics",
    )


def test_routing_threshold_and_fallback_queue() -> None:
    bundle = compile_case(FIXTURES / "valid" / "routing_p3").bundle
    assert bundle is not None
    routing = bundle.routings["lead_routing"]
    assert (routing.match, routing.threshold, routing.fallback_queue) == (
        "lead_rep_match",
        82,
        "unmatched_leads",
    )
    assert bundle.scorings["lead_rep_match"].spec.against == "users"
    assert len(bundle.scorings["lead_rep_match"].features) == 3
    assert bundle.manifest.users["li.wei"].model_extra["specialty"] == ["otc"]


def test_ticket_decision_table_and_sla() -> None:
    bundle = compile_case(FIXTURES / "valid" / "tickets_f4").bundle
    assert bundle is not None
    table = bundle.decision_tables["ticket_seat_group"]

    def seat(tier: str, keyword: str, severity: int) -> tuple[list[str] | None, bool]:
        record = {"customer_tier": tier, "keyword_class": keyword, "severity": severity}
        result = table.evaluate(record, {})
        return result.values, result.defaulted

    assert seat("VIP", "other", 1) == (["vip_critical"], False)
    assert seat("VIP", "invoice", 2) == (["vip"], False)  # hit first: the VIP row wins
    assert seat("normal", "invoice", 3) == (["finance"], False)
    assert seat("trial", "other", 3) == (["general"], True)  # no row: the default
    sla = bundle.workflows["ticket_handling"].body.stages[0].sla
    assert sla is not None and sla.within is None and sla.calendar == "support"
    assert [d.seconds for d in sla.remind_before] == [3600, 1800]


def test_playbook_template_instantiations() -> None:
    bundle = compile_case(FIXTURES / "valid" / "playbook_f3").bundle
    assert bundle is not None
    east, north = bundle.workflows["signing_east"], bundle.workflows["signing_north"]
    assert east.template == north.template == "distributor_signing"
    assert east.body.title == "East region signing" and north.body.title == ""
    assert dict(east.params) == {
        "region": "east",
        "required_clauses": ["exclusive_area", "return_policy"],
        "max_discount": 12.5,
        "approval_within": "3 days",
    }
    assert north.params["max_discount"] == 10 and north.params["required_clauses"] == [
        "return_policy"
    ]
    assert east.may_move("approval", "contract_draft")
    guard = east.guards["contract_draft.guards.0"]
    assert guard({"accepted_clauses": ["return_policy"]}) is True
    assert guard({"accepted_clauses": ["exclusive_area", "return_policy"]}) is False
    assert north.guards["contract_draft.guards.0"]({"accepted_clauses": ["return_policy"]}) is False


def test_alerts_schedules_and_forecast() -> None:
    bundle = compile_case(FIXTURES / "valid" / "alerts_p5_f9").bundle
    assert bundle is not None
    assert bundle.alerts["proposal_demo_slow"].metric == "stage_dwell_hours"
    assert bundle.alerts["stock_below_safety"].entity == "distributor_stock"
    assert bundle.alerts["proposal_demo_slow"].for_.seconds == 3600
    assert bundle.schedules["forecast_recompute"].every.seconds == 72 * 3600
    assert bundle.schedules["monday_digest"].cron == "0 9 * * mon"
    forecast = bundle.forecasts["pipeline_12w"]
    assert (forecast.seasonality, forecast.horizon.seconds) == (
        "seasonal_coefficients",
        12 * 7 * 86400,
    )
    assert bundle.tables["seasonal_coefficients"].range == ["starts", "ends"]
    assert bundle.forms["distributor_stock"].computed_order == ("stock_days",)
    stock_days = bundle.forms["distributor_stock"].computed["stock_days"]
    assert stock_days({"on_hand": 30, "daily_sales": 10}) == 3


# --- invalid bundles -------------------------------------------------------------------------


def golden_diff(expected_file: Path, expected: list[str], actual: list[str]) -> str:
    """Return the unified diff from the reviewed expected.txt to what the compiler says now."""
    name = expected_file.parent.name
    return "\n".join(
        difflib.unified_diff(
            expected, actual, f"{name}/expected.txt", f"{name}/expected.txt.new", lineterm=""
        )
    )


def check_golden(expected_file: Path, actual: list[str], regen: bool) -> None:
    """Fail with a unified diff unless `actual` is exactly expected_file's lines.

    With `regen`, a differing `actual` is also written to expected.txt.new for review (the
    reviewed file itself is never touched); a stale .new is removed once the two agree.
    """
    new_file = expected_file.with_name(expected_file.name + ".new")
    expected = expected_file.read_text(encoding="utf-8").splitlines()
    if actual == expected:
        new_file.unlink(missing_ok=True)
        return
    diff = golden_diff(expected_file, expected, actual)
    if regen:
        new_file.write_text("".join(f"{line}\n" for line in actual), encoding="utf-8")
        pytest.fail(f"wrote {new_file.name}; review the diff, then `make accept-golden`:\n{diff}")
    pytest.fail(f"diagnostics differ from the reviewed expected.txt:\n{diff}")


def test_invalid_case_reports_exactly_the_expected_diagnostics(invalid_case: Path) -> None:
    result = compile_case(invalid_case)
    actual = [d.render() for d in result.diagnostics]
    expected_file = invalid_case / "expected.txt"
    assert expected_file.read_text(encoding="utf-8").splitlines(), (
        "an invalid case must expect at least one diagnostic"
    )
    check_golden(expected_file, actual, REGEN)
    has_errors = any(d.severity is Severity.ERROR for d in result.diagnostics)
    assert (result.bundle is None) is has_errors


def test_warnings_only_case_still_compiles() -> None:
    result = compile_case(FIXTURES / "invalid" / "warnings_only")
    assert result.bundle is not None
    assert {d.severity for d in result.diagnostics} == {Severity.WARNING}


def test_multi_error_case_reports_every_file_in_one_run() -> None:
    result = compile_case(FIXTURES / "invalid" / "multi_error")
    assert result.bundle is None
    by_file: dict[str, int] = {}
    for diag in result.diagnostics:
        by_file[diag.path] = by_file.get(diag.path, 0) + 1
    assert by_file == {
        "multi_error/bundle.yaml": 1,
        "multi_error/forms/lead.yaml": 1,
        "multi_error/forms/opportunity.yaml": 1,
        "multi_error/rules/broken.yaml": 1,
        # lead.yaml's bad type no longer hides the form: scoring's unknown output shows.
        "multi_error/rules/scoring.yaml": 1,
        "multi_error/workflows/pharmacy_visit.yaml": 5,
    }


def test_not_utf8_fixture_is_still_gbk() -> None:
    raw = (FIXTURES / "invalid" / "not_utf8" / "forms" / "lead.yaml").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "药店线索" in raw.decode("gbk")  # an editor must not have re-encoded it


# --- the golden check itself -------------------------------------------------------------------


def test_golden_regeneration_writes_new_and_fails_with_the_diff(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    expected = case / "expected.txt"
    expected.write_text("a.yaml:1:1: error[x]: old\nb.yaml:2:2: error[y]: same\n", encoding="utf-8")
    actual = ["a.yaml:1:1: error[x]: new", "b.yaml:2:2: error[y]: same"]
    with pytest.raises(pytest.fail.Exception) as failed:
        check_golden(expected, actual, regen=True)
    message = str(failed.value)
    assert "wrote expected.txt.new" in message
    assert "--- case/expected.txt\n+++ case/expected.txt.new\n" in message
    assert "\n-a.yaml:1:1: error[x]: old\n+a.yaml:1:1: error[x]: new\n" in message
    assert expected.read_text(encoding="utf-8").startswith("a.yaml:1:1: error[x]: old")
    assert (case / "expected.txt.new").read_text(encoding="utf-8") == (
        "a.yaml:1:1: error[x]: new\nb.yaml:2:2: error[y]: same\n"
    )
    with pytest.raises(pytest.fail.Exception) as again:
        check_golden(expected, actual, regen=False)  # not accepted yet: still fails
    assert "differ from the reviewed expected.txt" in str(again.value)
    (case / "expected.txt.new").replace(expected)  # what `make accept-golden` does
    check_golden(expected, actual, regen=True)
    assert not (case / "expected.txt.new").exists()


def test_golden_check_removes_a_stale_new_file_once_they_agree(tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_text("x.yaml:1:1: error[x]: same\n", encoding="utf-8")
    stale = tmp_path / "expected.txt.new"
    stale.write_text("old proposal\n", encoding="utf-8")
    check_golden(expected, ["x.yaml:1:1: error[x]: same"], regen=False)
    assert not stale.exists()


def test_no_unreviewed_golden_file_is_left_behind() -> None:
    assert sorted(p.parent.name for p in FIXTURES.rglob("expected.txt.new")) == []
