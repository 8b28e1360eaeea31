"""The people an alert notifies may see, acknowledge and judge it, without an
`access: alerts` role (F9: the regional rep gets the stock alert and acknowledges it).

The default bundle's stock_below_safety notifies `field:rep`, the distributor's rep from
the `distributors` table: li.wei for hangzhou-lianhua, chen.jie for tianjin-jiajia.
Reps hold no `access.alerts` role.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.conftest import DEFINITIONS
from tests.api.test_ops import (
    AGENT,
    EAST,
    HOUR,
    NORTH,
    REP,
    START,
    MakeApi,
    get,
    post,
    stock,
)

OTHER_REP = "chen.jie"
ROLES = "your roles may not see or handle alerts"


def test_the_rep_an_alert_notifies_sees_only_that_alert(make_api: MakeApi) -> None:
    api = make_api()
    east = stock(api, EAST, 100, 25)  # 4 days of sales: fires, notifies li.wei
    api.clock.advance(HOUR)
    stock(api, NORTH, 20, 5)  # notifies chen.jie
    every = get(api, "/alerts", user=AGENT)["items"]
    mine = get(api, "/alerts", user=REP)
    assert mine["total"] == 1 and (mine["limit"], mine["offset"]) == (50, 0)
    (alert,) = mine["items"]
    assert alert["record_id"] == east and alert["values"] == {"stock_days": 4.0}
    assert alert == next(a for a in every if a["record_id"] == east)
    other = next(a for a in every if a["record_id"] != east)
    assert [a["id"] for a in get(api, "/alerts", user=OTHER_REP)["items"]] == [other["id"]]
    assert get(api, f"/alerts/{alert['id']}", user=REP) == alert
    # filters and pages apply within the caller's alerts
    assert get(api, "/alerts?state=resolved", user=REP)["items"] == []
    assert get(api, "/alerts?limit=1&offset=1", user=REP) == {
        "items": [],
        "total": 1,
        "limit": 1,
        "offset": 1,
    }
    # another rep's alert, a missing one and precision stay refused (403, as before)
    for path in (f"/alerts/{other['id']}", "/alerts/999", "/alerts/precision"):
        assert get(api, path, user=REP, status=403)["detail"].startswith(ROLES), path


def test_the_notified_rep_acknowledges_and_judges_the_alert(make_api: MakeApi) -> None:
    api = make_api()
    stock(api, EAST, 100, 25)
    stock(api, NORTH, 20, 5)
    (alert,) = get(api, "/alerts", user=REP)["items"]
    (other,) = get(api, "/alerts", user=OTHER_REP)["items"]
    api.clock.advance(2 * HOUR)
    acked = post(api, f"/alerts/{alert['id']}/acknowledge", user=REP)
    assert (acked["acked_by"], acked["acked_at"]) == (
        REP,
        (START + 2 * HOUR).isoformat() + "+00:00",
    )
    judged = post(api, f"/alerts/{alert['id']}/feedback", user=REP, json={"verdict": "useful"})
    assert judged["feedback"] == "useful"
    post(api, f"/alerts/{other['id']}/acknowledge", user=REP, status=403)
    post(api, f"/alerts/{other['id']}/feedback", user=REP, status=403, json={"verdict": "useful"})


def test_a_role_recipient_sees_the_alerts_of_the_rule(make_api: MakeApi, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFINITIONS, bundle)
    alerts = bundle / "rules" / "alerts.yaml"
    text = alerts.read_text(encoding="utf-8")
    assert '- notify: {to: "field:rep", template: stock_alert}' in text
    alerts.write_text(
        text.replace(
            '{to: "field:rep", template: stock_alert}', '{to: "role:rep", template: stock_alert}'
        ),
        encoding="utf-8",
    )
    api = make_api(bundle)
    stock(api, EAST, 100, 25)
    stock(api, NORTH, 20, 5)
    assert get(api, "/alerts", user=REP)["total"] == 2
    assert get(api, "/alerts", user=OTHER_REP)["total"] == 2
    assert get(api, "/alerts", user="wang.fang")["total"] == 2  # a director: the access role
