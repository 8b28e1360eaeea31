"""The permission matrix: every role of the default bundle against every kind of endpoint.

The expected answers are written out by hand from the YAML (definitions/bundle.yaml
`access:` and `queues:`, the forms' `permissions` and field `read`/`write` roles, the
pharmacy visit's move roles), so a change in how roles are enforced shows up here as a
cell that differs. Every endpoint but health needs a token (401 without one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from runtime.access import create_token, create_user
from tests.api.conftest import Api
from tests.runtime.helpers import JPEG

V1 = "/api/v1"
# role -> the user who holds it (the analyst is an API user: the bundle declares none)
USERS = {
    "rep": "li.wei",
    "manager": "zhang.min",
    "director": "wang.fang",
    "agent": "zhao.lei",
    "analyst": "ana",
    "admin": "admin",
}
OK = (200, 201, 204)
# what a refused caller gets: 403, but 404 for a queue they may not see (it stays hidden,
# answered as a queue that does not exist)
REFUSED: dict[str, int] = defaultdict(lambda: 403, {"queue: unmatched leads": 404})
# kind of endpoint -> roles whose answer is a success (everyone else: 403)
MATRIX: dict[str, set[str]] = {
    "me": set(USERS),
    "entities": set(USERS),
    "definitions: read current": set(USERS),
    "deal: read": {"rep", "manager", "director", "analyst", "admin"},
    "deal: list": {"rep", "manager", "director", "analyst", "admin"},
    "deal: audit trail": {"rep", "manager", "director", "analyst", "admin"},
    "deal: create": {"rep", "manager", "director"},
    "deal: update a field": {"rep", "manager", "director"},
    "deal: update credit_limit": {"director"},
    "opportunity: move a stage": {"rep", "manager"},
    "opportunity: attach evidence": {"rep", "manager"},
    # everyone may list alerts: the access.alerts roles all of them, anyone else those that
    # notify them (tests/api/test_alert_recipients.py); precision needs the role
    "alerts: list": set(USERS),
    "alerts: precision": {"manager", "director", "agent", "analyst", "admin"},
    "metrics: list": {"manager", "director", "analyst", "admin"},
    "metrics: funnel": {"manager", "director", "analyst", "admin"},
    "queue: unmatched leads": {"manager", "director"},
    "definitions: reload": {"analyst", "admin"},
    "definitions: validate": {"analyst", "admin"},
    "admin: tokens": {"admin"},
    "admin: users": {"admin"},
}
# Roles that may read the deal's credit_limit field (the others never see it).
CREDIT_READERS = {"manager", "director", "admin"}


def _setup(api: Api) -> dict[str, Any]:
    server = api.server
    assert server.bundle is not None
    create_user(server.store, server.bundle, "ana", ["analyst"], api.clock.now())
    _, api.tokens["ana"] = create_token(server.store, server.bundle, "ana", api.clock.now())
    deal = api.call(
        "POST",
        f"{V1}/records/distributor_deal",
        "wang.fang",
        json={"distributor": "Chengdu Kang", "region": "east", "credit_limit": 50000},
    )
    assert deal.status_code == 201, deal.text
    return {"deal": deal.json()}


def _opportunity(api: Api) -> dict[str, Any]:
    made = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Kang", "region": "sichuan"},
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def _deal_path(ctx: dict[str, Any]) -> str:
    return f"{V1}/records/distributor_deal/{ctx['deal']['id']}"


def _update_deal(field: dict[str, Any]) -> Request:
    def send(api: Api, user: str, ctx: dict[str, Any]) -> Any:
        current = api.call("GET", _deal_path(ctx), "wang.fang").json()
        body = {"row_version": current["row_version"], "data": field}
        return api.call("PATCH", _deal_path(ctx), user, json=body)

    return send


def _move(api: Api, user: str, _: dict[str, Any]) -> Any:
    path = f"{V1}/records/opportunity/{_opportunity(api)['id']}/transitions"
    return api.call("POST", path, user, json={"to": "lost"})


def _attach(api: Api, user: str, _: dict[str, Any]) -> Any:
    path = f"{V1}/records/opportunity/{_opportunity(api)['id']}/evidence"
    files = {"file": ("shelf.jpg", JPEG, "image/jpeg")}
    return api.call("POST", path, user, data={"kind": "shelf_photo"}, files=files)


def _get(path: str, **params: str) -> Request:
    return lambda api, user, ctx: api.call("GET", path.format(**ctx), user, params=params)


Request = Callable[[Api, str, dict[str, Any]], Any]
VALIDATE = {"files": {"bundle.yaml": "kind: bundle\nversion: 1\n"}}
REQUESTS: dict[str, Request] = {
    "me": _get(f"{V1}/me"),
    "entities": _get(f"{V1}/entities"),
    "definitions: read current": _get(f"{V1}/definitions"),
    "deal: read": lambda api, user, ctx: api.call("GET", _deal_path(ctx), user),
    "deal: list": _get(f"{V1}/records/distributor_deal"),
    "deal: audit trail": lambda api, user, ctx: api.call("GET", f"{_deal_path(ctx)}/audit", user),
    "deal: create": lambda api, user, _: api.call(
        "POST",
        f"{V1}/records/distributor_deal",
        user,
        json={"distributor": f"D {user}", "region": "north"},
    ),
    "deal: update a field": _update_deal({"amount": 1200}),
    "deal: update credit_limit": _update_deal({"credit_limit": 1}),
    "opportunity: move a stage": _move,
    "opportunity: attach evidence": _attach,
    "alerts: list": _get(f"{V1}/alerts"),
    "alerts: precision": _get(f"{V1}/alerts/precision"),
    "metrics: list": _get(f"{V1}/metrics"),
    "metrics: funnel": _get(f"{V1}/metrics/funnel", workflow="pharmacy_visit"),
    "queue: unmatched leads": _get(f"{V1}/queues/unmatched_leads"),
    "definitions: reload": lambda api, user, _: api.call("POST", f"{V1}/definitions/reload", user),
    "definitions: validate": lambda api, user, _: api.call(
        "POST", f"{V1}/definitions/validate", user, json=VALIDATE
    ),
    "admin: tokens": _get(f"{V1}/admin/tokens"),
    "admin: users": _get(f"{V1}/admin/users"),
}


def test_every_role_against_every_kind_of_endpoint(make_api: Callable[..., Api]) -> None:
    assert set(REQUESTS) == set(MATRIX)
    api = make_api()
    ctx = _setup(api)
    got: dict[tuple[str, str], int] = {}
    for kind in MATRIX:
        for role, user in USERS.items():
            got[kind, role] = REQUESTS[kind](api, user, ctx).status_code
    wrong = {
        (kind, role): code
        for (kind, role), code in got.items()
        if (code in OK) != (role in MATRIX[kind]) or (code not in OK and code != REFUSED[kind])
    }
    assert not wrong, f"cells that differ from the matrix (kind, role): status: {wrong}"


def test_a_field_is_visible_only_to_its_readers(make_api: Callable[..., Api]) -> None:
    api = make_api()
    ctx = _setup(api)
    path = f"{V1}/records/distributor_deal/{ctx['deal']['id']}"
    for role, user in USERS.items():
        if role not in MATRIX["deal: read"]:
            continue
        data = api.call("GET", path, user).json()["data"]
        listed = api.call("GET", f"{V1}/records/distributor_deal", user).json()["items"][0]
        assert ("credit_limit" in data) == (role in CREDIT_READERS), (role, data)
        assert ("credit_limit" in listed["data"]) == (role in CREDIT_READERS), role
        if role in CREDIT_READERS:
            assert data["credit_limit"] == 50000


def test_every_endpoint_but_health_needs_a_token(make_api: Callable[..., Api]) -> None:
    api = make_api()
    routes = [
        (method, route.path)
        for route in api.app.routes
        for method in sorted(getattr(route, "methods", ()))
        if method not in ("HEAD", "OPTIONS")
    ]
    assert len(routes) > 30
    for method, path in routes:
        concrete = (
            path.replace("{token_id:int}", "1").replace("{alert_id:int}", "1").replace(":str}", "}")
        )
        for name in ("entity", "record_id", "evidence_id", "target", "name", "path"):
            concrete = concrete.replace("{" + name + "}", "x")
        answer = api.client.request(method, concrete, follow_redirects=False)
        if path in ("/healthz", "/readyz"):
            assert answer.status_code == 200, path
        elif not path.startswith(("/api/", "/admin/", "/schema")):
            # The console (tests/console): its own session; a page sends a visitor to
            # sign in, a form without its CSRF token is refused, assets are public.
            if path.startswith("/static/") or (method, path) == ("GET", "/sign-in"):
                assert answer.status_code in (200, 404), (method, path, answer.status_code)
            elif method == "GET":
                assert answer.status_code in (302, 303), (method, path, answer.status_code)
                assert answer.headers["location"].startswith("/sign-in?next="), path
            else:
                assert answer.status_code == 403, (method, path, answer.status_code)
                assert "This form has expired" in answer.text, path
        elif path.startswith("/api/v1/inbound/"):
            # signed, not token-bearing (tests/api/test_inbound_webhook.py); no inbound 'x'
            assert answer.status_code == 404, (method, path, answer.status_code)
        else:
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers.get("www-authenticate") == "Bearer"


def test_an_api_user_writes_with_the_roles_an_admin_gave_it(make_api: Callable[..., Api]) -> None:
    api = make_api()
    # An API user is no user of the bundle, so nothing it creates is routed to it or held
    # by it: as a rep alone (`rows: assigned`) it would not see its own opportunity, so it
    # is a director too (who sees every opportunity but may neither create nor move one).
    roles = ["rep", "director"]
    made = api.call("POST", f"{V1}/admin/users", "admin", json={"id": "bot", "roles": roles})
    assert made.status_code == 201, made.text
    token = api.call("POST", f"{V1}/admin/tokens", "admin", json={"user": "bot"}).json()["token"]
    api.tokens["bot"] = token
    created = api.call(
        "POST", f"{V1}/records/opportunity", "bot", json={"pharmacy_name": "K", "region": "sichuan"}
    )
    assert created.status_code == 201, created.text  # create: [rep, manager]
    assert created.json()["created_by"] == "bot"
    moved = api.call(
        "POST",
        f"{V1}/records/opportunity/{created.json()['id']}/transitions",
        "bot",
        json={"to": "lost"},
    )
    assert moved.status_code == 200, moved.text  # moves: roles [rep, manager]
    # Another caller in the same process gains nothing from the API user's roles.
    refused = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "zhao.lei",
        json={"pharmacy_name": "K", "region": "sichuan"},
    )
    assert refused.status_code == 403


def test_refusal_messages_never_quote_a_field_some_roles_may_not_read(
    make_api: Callable[..., Api], tmp_path: Any
) -> None:
    """A rule's message renders a restricted field (`read:` roles) empty, for everyone."""
    import shutil

    from tests.api.conftest import DEFINITIONS

    bundle = tmp_path / "credit"
    shutil.copytree(DEFINITIONS, bundle)
    (bundle / "rules" / "credit.yaml").write_text(
        "kind: validation\nversion: 1\nname: credit_cap\nentity: distributor_deal\n"
        'on: [save]\nrefuse_if: "amount > credit_limit"\n'
        'message: "{{ amount }} is above the credit limit ({{ credit_limit }})."\n',
        encoding="utf-8",
    )
    api = make_api(bundle)
    body = {"distributor": "D", "region": "east", "credit_limit": 1000, "amount": 5000}
    refused = api.call("POST", f"{V1}/records/distributor_deal", "wang.fang", json=body)
    assert refused.status_code == 422, refused.text
    messages = [e["message"] for e in refused.json()["extra"]]
    assert messages == ["5000.0 is above the credit limit ()."]
