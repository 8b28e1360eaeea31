"""Commands: each happens whole or not at all, and says every reason when it does not."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runtime.core import Runtime
from runtime.errors import Conflict, Forbidden, Invalid, Refused
from runtime.store import T_EVENT, T_EVIDENCE, T_OUTBOX, T_RECORD, T_STAY, Store
from tests.runtime.helpers import JPEG, PDF, count, make_runtime

OPPORTUNITY = {"pharmacy_name": "Kang Pharmacy", "region": "sichuan"}


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return make_runtime(store, tmp_path)


def test_invalid_data_lists_every_problem_and_stores_nothing(rt: Runtime, store: Store) -> None:
    with pytest.raises(Invalid) as caught:
        rt.create("opportunity", {"region": "tibet", "quote_price": "cheap", "colour": "red"})
    fields = {p.field for p in caught.value.problems}
    assert fields == {"pharmacy_name", "region", "quote_price", "colour"}
    assert count(store, T_RECORD) == count(store, T_EVENT) == count(store, T_STAY) == 0


@pytest.mark.parametrize("value", ["red", None])
def test_a_change_or_ingest_naming_an_unknown_field_is_refused_whole(
    rt: Runtime, store: Store, value: object
) -> None:
    """A field the form does not declare is refused on update and ingest as on create,
    even beside valid changes and even as null: nothing is dropped in silence."""
    made = rt.create("opportunity", OPPORTUNITY)
    events = count(store, T_EVENT)
    with pytest.raises(Invalid) as caught:
        rt.update(made.id, {"pharmacy_tier": "chain", "colour": value})
    assert [(p.code, p.field, p.message) for p in caught.value.problems] == [
        ("extra_forbidden", "colour", "colour: is not a field of this form")
    ]
    lead = {"source": "jd_health", "external_id": "A-18", "pharmacy_name": "Kang"}
    assert count(store, T_EVENT) == events
    rt.ingest("lead", lead)
    events = count(store, T_EVENT)
    with pytest.raises(Invalid) as caught:
        rt.ingest("lead", {**lead, "orders_90d": 4, "colour": value})
    assert [p.field for p in caught.value.problems] == ["colour"]
    assert rt.get(made.id).data.get("pharmacy_tier") is None
    assert count(store, T_EVENT) == events


def test_address_is_normalised_on_input(rt: Runtime) -> None:
    """P11: three spellings of one district are stored as one canonical form."""
    stored = {
        rt.create("opportunity", {**OPPORTUNITY, "address": spelling}).data["address"]
        for spelling in (
            "Jinjiang District",
            " Chengdu Jinjiang District",
            "Sichuan Chengdu Jinjiang District",
        )
    }
    assert stored == {"Sichuan Chengdu Jinjiang District"}


def test_ingest_merges_on_the_declared_key(rt: Runtime, store: Store) -> None:
    """P1: a lead arriving twice is merged, not double-counted."""
    lead = {"source": "jd_health", "external_id": "A-17", "pharmacy_name": "Kang"}
    first, created = rt.ingest("lead", {**lead, "orders_90d": 3})
    again, created_again = rt.ingest("lead", {**lead, "orders_90d": 9, "district": "wuhou"})
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.data["orders_90d"] == 9 and again.data["district"] == "wuhou"
    assert again.data["quality_score"] > first.data["quality_score"]  # P2: rescored
    assert count(store, T_RECORD) == 1


def test_a_stale_version_gets_a_conflict_with_the_current_record(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY)
    rt.update(record.id, {"quote_price": 10}, expected_version=record.row_version)
    with pytest.raises(Conflict) as caught:
        rt.update(record.id, {"quote_price": 12}, expected_version=record.row_version)
    assert caught.value.current.row_version == record.row_version + 1
    assert caught.value.current.data["quote_price"] == 10
    assert rt.get(record.id).data["quote_price"] == 10


def test_concurrent_writers_never_lose_an_update(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def write(price: int) -> None:
        barrier.wait()
        try:
            rt.update(record.id, {"quote_price": price}, expected_version=record.row_version)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(p,)) for p in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert rt.get(record.id).row_version == record.row_version + 1


def test_a_refused_move_lists_every_unmet_requirement(rt: Runtime) -> None:
    """P4: advancing without the evidence is refused, naming what is missing."""
    record = rt.create("opportunity", OPPORTUNITY, actor="li.wei")
    record = rt.transition(record.id, "inventory_count", actor="li.wei")
    rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="a.jpg", actor="li.wei")
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, "competitor_analysis", actor="li.wei")
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "Shelf photos: 1 of 3 attached (image/jpeg, image/png)",
        "Inventory list screenshot: 0 of 1 attached (image/*, application/pdf)",
    ]
    after = rt.get(record.id)
    assert (after.stage, after.row_version) == ("inventory_count", record.row_version)
    refusal = rt.explain(record.id, "transition")[-1]
    assert refusal["outcome"] == "refused"
    assert len(refusal["detail"]["problems"]) == 2


def test_moves_follow_the_workflow_and_its_roles(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY, actor="li.wei")
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, "quote", actor="zhao.lei")
    codes = [p.code for p in caught.value.problems]
    assert codes == ["move-not-allowed", "forbidden"]
    assert "from here: inventory_count, lost" in caught.value.problems[0].message


def test_guard_refuses_with_the_rule_and_its_message(rt: Runtime) -> None:
    """P10: a quote above the regional cap is blocked at the quote stage."""
    record = rt.create(
        "opportunity",
        {**OPPORTUNITY, "product_class": "herbal_pieces", "quote_price": 20},
        actor="li.wei",
    )
    for stage, kind, files in (
        ("inventory_count", None, []),
        ("competitor_analysis", "shelf_photo", [JPEG + b"1", JPEG + b"2", JPEG + b"3"]),
        ("proposal_demo", "price_comparison", [PDF]),
        ("quote", None, []),
    ):
        if kind == "shelf_photo":
            for i, content in enumerate(files):
                rt.attach_evidence(record.id, kind, content, file_name=f"{i}.jpg")
            rt.attach_evidence(record.id, "inventory_list", PDF, file_name="list.pdf")
        elif kind:
            for content in files:
                rt.attach_evidence(record.id, kind, content, file_name="x.pdf")
        record = rt.transition(record.id, stage, actor="li.wei")
    with pytest.raises(Refused) as caught:
        rt.update(record.id, {"quote_price": 45})
    assert [p.rule for p in caught.value.problems] == ["herbal_price_cap"]
    assert "above the sichuan cap for herbal_pieces" in caught.value.problems[0].message
    assert rt.get(record.id).data["quote_price"] == 20


def test_evidence_is_checked_by_content_and_stored_once(
    rt: Runtime, store: Store, tmp_path: Path
) -> None:
    record = rt.create("opportunity", OPPORTUNITY)
    with pytest.raises(Invalid) as caught:
        rt.attach_evidence(
            record.id, "shelf_photo", PDF, file_name="photo.jpg", media_type="image/jpeg"
        )
    assert caught.value.problems[0].detail == {"got": "application/pdf"}
    with pytest.raises(Invalid):
        rt.attach_evidence(record.id, "selfie", JPEG, file_name="me.jpg")
    first = rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="a.jpg")
    second = rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="b.jpg")
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    stored = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == JPEG
    assert count(store, T_EVIDENCE) == 2


def test_field_write_roles_are_enforced(rt: Runtime) -> None:
    lead = {"source": "web_form", "external_id": "9", "pharmacy_name": "K"}
    with pytest.raises(Forbidden) as caught:
        rt.create("lead", {**lead, "quality_score": 99}, actor="li.wei")
    assert caught.value.problems[0].field == "quality_score"


def test_legacy_records_stay_readable_but_locked_until_fixed(rt: Runtime) -> None:
    """P12: a record from schema 1 that fails today's form is kept read-only."""
    old = rt.import_legacy("opportunity", {"pharmacy_name": "Old Store"}, schema_version=1)
    assert old.read_only and rt.get(old.id).data["pharmacy_name"] == "Old Store"
    with pytest.raises(Refused) as caught:
        rt.update(old.id, {"pharmacy_tier": "chain"})
    assert [p.field for p in caught.value.problems] == ["region"]
    fixed = rt.update(old.id, {"region": "chongqing"})
    assert (fixed.read_only, fixed.schema_version) == (False, 2)


def test_a_command_that_fails_halfway_writes_nothing(rt: Runtime, store: Store) -> None:
    record = rt.create("ticket", {"customer_tier": "VIP", "severity": 1})
    before = (count(store, T_EVENT), count(store, T_OUTBOX), count(store, T_STAY))
    with pytest.raises(Invalid):
        rt.assign(record.id, user="nobody")
    assert (count(store, T_EVENT), count(store, T_OUTBOX), count(store, T_STAY)) == before
    assert rt.get(record.id).row_version == record.row_version


def test_schedules_run_from_tick_and_survive_restarts(
    rt: Runtime, store: Store, tmp_path: Path
) -> None:
    """F8: the forecast is recomputed every 72 hours, and a new process continues the count."""
    clock = rt.clock
    assert rt.tick().schedules == []  # first sight: next run in 72h
    clock.advance(hours=71)  # type: ignore[attr-defined]
    assert rt.tick().schedules == []
    clock.advance(hours=1)  # type: ignore[attr-defined]
    assert rt.tick().schedules == ["forecast_recompute"]
    restarted = make_runtime(store, tmp_path)
    restarted.clock.set(clock.now())  # type: ignore[attr-defined]
    assert restarted.tick().schedules == []
    restarted.clock.advance(hours=72)  # type: ignore[attr-defined]
    assert restarted.tick().schedules == ["forecast_recompute"]


def test_content_that_is_not_what_it_claims_is_not_accepted(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY)
    with pytest.raises(Invalid) as caught:
        rt.attach_evidence(
            record.id, "shelf_photo", b"not a photo", file_name="x.jpg", media_type="image/jpeg"
        )
    problem = caught.value.problems[0]
    assert (problem.code, problem.detail) == (
        "unrecognised-content",
        {"got": "application/octet-stream", "declared": "image/jpeg"},
    )


def test_a_closed_record_takes_no_more_evidence(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY, actor="li.wei")
    rt.transition(record.id, "lost", actor="li.wei")
    with pytest.raises(Refused, match="it takes no more evidence"):
        rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="a.jpg")


def test_only_roles_that_may_write_a_record_add_evidence(rt: Runtime, store: Store) -> None:
    record = rt.create("opportunity", OPPORTUNITY, actor="li.wei")  # write: [rep, manager]
    with pytest.raises(Forbidden, match="may not add evidence to opportunity"):
        rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="a.jpg", actor="zhao.lei")
    assert count(store, T_EVIDENCE) == 0
    rt.attach_evidence(record.id, "shelf_photo", JPEG, file_name="a.jpg", actor="zhang.min")
    assert count(store, T_EVIDENCE) == 1


def test_a_schedule_another_process_is_running_is_skipped(
    rt: Runtime, store: Store, backend: str
) -> None:
    """On PostgreSQL a cron run holds an advisory lock; a second process skips it."""
    from runtime.ticking import cluster_lock

    clock = rt.clock
    rt.tick()  # first sight: due in 72 hours
    clock.advance(hours=72)  # type: ignore[attr-defined]
    if backend == "postgresql":
        with store.begin(clock.now()) as other:  # another process, mid-run of the schedule
            assert cluster_lock(other.conn, "schedule:forecast_recompute")
            assert rt.tick().schedules == []  # skipped without waiting
        # The other run ended without running it: now this process does, once.
        assert rt.tick().schedules == ["forecast_recompute"]
    else:  # one writer at a time already: the lock is not needed and always granted
        with store.read() as conn:
            assert cluster_lock(conn, "schedule:forecast_recompute")
        assert rt.tick().schedules == ["forecast_recompute"]
    assert rt.tick().schedules == []


def test_a_routing_rule_only_routes_its_own_entity(rt: Runtime) -> None:
    deal = rt.create("distributor_deal", {"distributor": "D", "region": "east"}, actor="wang.fang")
    with pytest.raises(Invalid, match="routes lead records, not distributor_deal"):
        rt.assign(deal.id, routing="lead_routing", actor="wang.fang")
    after = rt.get(deal.id)
    assert (after.owner, after.queue, after.row_version) == (deal.owner, deal.queue, 1)


def test_a_schedule_lock_in_another_schema_does_not_skip_this_one(
    rt: Runtime, store: Store, backend: str
) -> None:
    """Advisory locks are server-wide: the key names the schema, so a deployment (or a
    test run) in another schema of the same PostgreSQL never skips this one's runs."""
    from sqlalchemy import text

    from runtime.ticking import cluster_lock

    clock = rt.clock
    rt.tick()  # first sight: due in 72 hours
    clock.advance(hours=72)  # type: ignore[attr-defined]
    if backend == "postgresql":
        with store.begin(clock.now()) as other:  # the same schedule, in schema `public`
            other.conn.execute(text("SET LOCAL search_path TO public"))
            assert cluster_lock(other.conn, "schedule:forecast_recompute")
            assert rt.tick().schedules == ["forecast_recompute"]
    else:  # one database per SQLite file: nothing to share
        assert rt.tick().schedules == ["forecast_recompute"]
