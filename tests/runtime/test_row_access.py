"""Row-level access (`permissions.rows`): a rep sees the claims they own or are assigned
to, a manager those of their team, a role without an entry every claim it may read.

Claims go round robin to ann, bob, cid (reps); team north (lead mia) is ann and bob.
Listing, queues, counts, alerts and every command honour it; a claim a caller may not
see is missing for them (NotFound). Checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime import queries, reports, rows
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import NotFound
from runtime.people import roles_of
from runtime.queries import RecordQuery
from runtime.store import Store
from tests.runtime.assign_bundle import claims_bundle

START = datetime(2026, 3, 2, 9, 0)
ALERT = """\
kind: alert
version: 1
name: big_claim
entity: claim
when: "amount > 1000"
severity: warning
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return claims_bundle(tmp_path / "defs", **{"rules/alert.yaml": ALERT})


@pytest.fixture
def rt(bundle: Bundle, store: Store, tmp_path: Path) -> Runtime:
    return Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")


@pytest.fixture
def claims(rt: Runtime) -> dict[str, str]:
    """Three claims: owned by ann, bob and cid; cid is account manager of bob's."""
    ids = {}
    for owner in ("ann", "bob", "cid"):
        view = rt.create("claim", {"title": f"{owner}'s", "amount": 5000})
        assert view.owner == owner
        ids[owner] = view.id
    rt.assign(ids["bob"], user="cid", as_="account_manager")
    return ids


def seen(rt: Runtime, user: str) -> list[str]:
    limited = rows.restricted(rt.bundle, ["claim"], user, roles_of(rt.bundle, user))
    with rt.store.read() as conn:
        page = queries.list_records(
            conn,
            rt.bundle,
            RecordQuery(("claim",), sort=[queries.SortKey("title", type="string")], rows=limited),
        )
    return [v.data["title"] for v in page.items]


def test_a_rep_sees_what_they_own_or_are_assigned_to(rt: Runtime, claims: dict[str, str]) -> None:
    assert seen(rt, "ann") == ["ann's"]
    assert seen(rt, "bob") == ["bob's"]
    assert seen(rt, "cid") == ["bob's", "cid's"]  # account manager of bob's


def test_a_manager_sees_the_claims_of_their_team(rt: Runtime, claims: dict[str, str]) -> None:
    assert seen(rt, "mia") == ["ann's", "bob's"]  # north: ann and bob; not cid's


def test_a_role_without_an_entry_sees_every_claim(rt: Runtime, claims: dict[str, str]) -> None:
    assert seen(rt, "olga") == ["ann's", "bob's", "cid's"]  # auditor: no `rows` entry
    assert seen(rt, "rita") == ["ann's", "bob's", "cid's"]  # reviewer: no entry either
    assert rows.reach(rt.bundle, "claim", None, []) is None  # the system


def test_a_named_reviewer_counts_for_team_access(rt: Runtime, claims: dict[str, str]) -> None:
    rt.assign(claims["cid"], user="bob", as_="reviewer")  # bob (north) reviews cid's claim
    assert seen(rt, "mia") == ["ann's", "bob's", "cid's"]
    assert seen(rt, "bob") == ["bob's", "cid's"]


def test_commands_on_a_claim_the_actor_may_not_see_find_nothing(
    rt: Runtime, claims: dict[str, str]
) -> None:
    for command in (
        lambda: rt.update(claims["bob"], {"amount": 1}, actor="ann"),
        lambda: rt.transition(claims["bob"], "approval", actor="ann"),
        lambda: rt.assign(claims["bob"], user="ann", actor="ann"),
        lambda: rt.check_transition(claims["cid"], "approval", actor="mia"),
    ):
        with pytest.raises(NotFound, match="does not exist"):
            command()
    assert rt.update(claims["bob"], {"amount": 1}, actor="cid").data["amount"] == 1
    assert rt.update(claims["ann"], {"amount": 2}, actor="mia").data["amount"] == 2


def test_queues_and_alerts_show_only_visible_claims(rt: Runtime, claims: dict[str, str]) -> None:
    for rid in claims.values():
        rt.assign(rid, queue="review_queue", as_="reviewer")
    for user, expected in (("ann", 1), ("mia", 2), ("olga", 3)):
        limited = rows.restricted(rt.bundle, ["claim"], user, roles_of(rt.bundle, user))
        with rt.store.read() as conn:
            page = queries.waiting(conn, rt.bundle, "review_queue", ["claim"], rows=limited)
            sizes = queries.queue_sizes(conn, ["review_queue"], ["claim"], limited)
            alerts, total = reports.alert_page(conn, rows=limited)
            visible = rows.record_visible(
                conn, rt.bundle, claims["cid"], user, roles_of(rt.bundle, user)
            )
        assert page.total == sizes["review_queue"] == total == len(alerts) == expected, user
        assert visible == (user == "olga")


def test_ingesting_into_a_claim_out_of_reach_is_refused(tmp_path: Path, store: Store) -> None:
    from runtime.errors import Forbidden
    from tests.runtime import assign_bundle as a

    keyed = a.CLAIM.replace("entity: claim\n", "entity: claim\nkey: [title]\n")
    bundle = claims_bundle(tmp_path / "keyed", **{"forms/claim.yaml": keyed})
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")
    first = rt.create("claim", {"title": "K1"})
    assert first.owner == "ann"
    with pytest.raises(Forbidden, match="row access does not reach it"):
        rt.ingest("claim", {"title": "K1", "amount": 9}, actor="bob")
    merged, created = rt.ingest("claim", {"title": "K1", "amount": 9}, actor="ann")
    assert (merged.id, created, merged.data["amount"]) == (first.id, False, 9)


def test_a_queue_role_sees_the_claims_waiting_in_it(tmp_path: Path, store: Store) -> None:
    """review_queue lists manager: mia (team north: ann, bob) also sees cid's claim while
    its reviewer waits there, in listings, the queue, its count, alerts and commands;
    once the reviewer is named, cid's claim is out of her reach again. Reps gain nothing."""
    from tests.runtime import assign_bundle as a

    manifest = a.MANIFEST.replace(
        "review_queue: {title: Reviews waiting}",
        "review_queue: {title: Reviews waiting, visible_to: [manager, rep]}",
    )
    assert manifest != a.MANIFEST
    bundle = claims_bundle(tmp_path / "q", **{"bundle.yaml": manifest, "rules/alert.yaml": ALERT})
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")
    ids = {
        o: rt.create("claim", {"title": f"{o}'s", "amount": 5000}).id for o in ("ann", "bob", "cid")
    }
    rt.assign(ids["cid"], queue="review_queue", as_="reviewer")
    reach = rows.reach(bundle, "claim", "mia", ["manager"])
    assert reach is not None and reach.queues == {"review_queue"}
    assert seen(rt, "mia") == ["ann's", "bob's", "cid's"]
    assert seen(rt, "ann") == ["ann's", "cid's"]  # rep is listed on the queue too
    limited = rows.restricted(bundle, ["claim"], "mia", ["manager"])
    with rt.store.read() as conn:
        page = queries.waiting(conn, bundle, "review_queue", ["claim"], rows=limited)
        sizes = queries.queue_sizes(conn, ["review_queue"], ["claim"], limited)
        alerts, total = reports.alert_page(conn, rows=limited)
        hidden = rows.hidden_among(conn, bundle, list(ids.values()), "mia", ["manager"])
        assert rows.record_visible(conn, bundle, ids["cid"], "mia", ["manager"])
    assert [v.id for v in page.items] == [ids["cid"]] and sizes["review_queue"] == 1
    assert total == len(alerts) == 3 and hidden == set()
    rt.assign(ids["cid"], user="rita", as_="reviewer", actor="mia")  # she may work it
    assert seen(rt, "mia") == ["ann's", "bob's"]
    with pytest.raises(NotFound, match="does not exist"):
        rt.update(ids["cid"], {"amount": 1}, actor="mia")
    with rt.store.read() as conn:
        assert rows.hidden_among(conn, bundle, [ids["cid"]], "mia", ["manager"]) == {ids["cid"]}
