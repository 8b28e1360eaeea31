"""The analyst's day of examples/README.md, step by step, on a running app.

The day starts from the default bundle without what the day adds (the procurement
follow-up tab, the same-day price cap and their tests, P9's and P10's). Each step edits YAML in the
served folder exactly as the README shows, then `sopflow validate` and `sopflow test`
pass on the folder, and the running server picks the change up with a reload (no
restart): the next request sees it. On SQLite and PostgreSQL (the `make_api` fixture).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from api.cli import main
from tests.api.conftest import DEFINITIONS, Api, make_api  # noqa: F401  (the fixture)
from tests.runtime.conftest import backend, db_url  # noqa: F401  (its fixtures)

V1 = "/api/v1"
MakeApi = Callable[..., Api]
README = Path(__file__).resolve().parents[1] / "examples" / "README.md"
TAB = """  - tab: Procurement follow-up            # P9: added by a business user
    fields: [tender_round, tender_result]
"""
TAB_PIN = "          Procurement follow-up: [tender_round, tender_result]\n"


def readme_block(title: str) -> str:
    """Return the first ```yaml block after the README heading `title`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(title)
    found = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    assert found, f"no yaml block after {title!r}"
    return found.group(1)


def start_of_day(tmp_path: Path) -> Path:
    """Return a copy of the default bundle as it was before the analyst's day."""
    folder = tmp_path / "before-the-day"
    shutil.copytree(DEFINITIONS, folder)
    form = folder / "forms" / "opportunity.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace(TAB, ""), encoding="utf-8")
    guide = folder / "tests" / "p4_p7_visit_guide.yaml"
    guide.write_text(guide.read_text(encoding="utf-8").replace(TAB_PIN, ""), encoding="utf-8")
    (folder / "rules" / "compliance.yaml").unlink()
    (folder / "tests" / "p10_price_cap.yaml").unlink()
    # The definition test of P9 pins the tab the day adds (and reloads copies holding it).
    (folder / "tests" / "p9_live_changes.yaml").unlink()
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def validate_and_test(folder: Path) -> None:
    """`sopflow validate` and `sopflow test` on the folder, as the README runs them."""
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(folder)])
    assert checked.exit_code == 0, checked.output
    tested = runner.invoke(main, ["test", str(folder), "-q"])
    assert tested.exit_code == 0, tested.output


def reload(api: Api) -> dict[str, Any]:
    answer = api.call("POST", f"{V1}/definitions/reload", "admin")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    assert result["applied"] is True, result
    return result


def tabs(api: Api, rid: str) -> list[str]:
    guide = api.call("GET", f"{V1}/records/opportunity/{rid}/guide", "li.wei").json()
    return [t["tab"] for t in guide["layout"]]


def stock(api: Api, sku: str) -> int:
    """Report 6.5 days of stock; return how many alerts of the rule fire for it."""
    data = {"distributor": "hangzhou-lianhua", "sku": sku, "on_hand": 130, "daily_sales": 20}
    answer = api.call("POST", f"{V1}/records/distributor_stock/ingest", "admin", json=data)
    assert answer.status_code in (200, 201), answer.text
    rid = answer.json()["record"]["id"]
    found = api.call(
        "GET", f"{V1}/alerts", "admin", params={"rule": "stock_below_safety", "record_id": rid}
    )
    assert found.status_code == 200, found.text
    return len(found.json()["items"])


def test_the_analysts_day(make_api: MakeApi, tmp_path: Path) -> None:  # noqa: F811
    folder = start_of_day(tmp_path)
    validate_and_test(folder)
    api = make_api(folder)
    served = api.directory  # the running server's own folder: the day edits it
    made = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Renmin", "region": "sichuan"},
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert "Procurement follow-up" not in tabs(api, rid)

    # 1. P9: the procurement follow-up tab
    form = served / "forms" / "opportunity.yaml"
    edit(form, "  - tab: Outcome", readme_block("### 1.") + "  - tab: Outcome")
    guide = served / "tests" / "p4_p7_visit_guide.yaml"
    edit(guide, "          Outcome:", TAB_PIN + "          Outcome:")
    validate_and_test(served)
    assert reload(api)["changes"]["changed"].get("form") == ["opportunity"]
    assert tabs(api, rid)[2] == "Procurement follow-up"  # the same record, no restart

    # 2. P9: the stage weights, changed by the sales director
    flow = served / "workflows" / "pharmacy_visit.yaml"
    edit(
        flow,
        "    require: [quote_price, product_class]\n    forecast_weight: 0.5\n",
        "    require: [quote_price, product_class]\n    forecast_weight: 0.6\n",
    )
    assert "forecast_weight: 0.6" in readme_block("### 2.")
    validate_and_test(served)
    assert reload(api)["changes"]["changed"].get("workflow") == ["pharmacy_visit"]
    quote = next(
        s for s in api.server.bundle.workflows["pharmacy_visit"].body.stages if s.id == "quote"
    )
    assert quote.forecast_weight == 0.6

    # 3. P10: the same-day price cap, with its test
    rule = readme_block("### 3.")
    (served / "rules" / "compliance.yaml").write_text(rule, encoding="utf-8")
    shutil.copy(DEFINITIONS / "tests" / "p10_price_cap.yaml", served / "tests")
    validate_and_test(served)
    assert reload(api)["changes"]["added"] == {"validation": ["herbal_price_cap"]}
    served_rules = api.call("GET", f"{V1}/definitions", "admin").json()["documents"]
    assert "herbal_price_cap" in str(served_rules)

    # 4. F10: after false positives, the alert's threshold goes from 7 to 6.5 days
    assert stock(api, "cola-330") == 1  # 6.5 days of stock: an alert today
    alerts = served / "rules" / "alerts.yaml"
    edit(alerts, 'when: "stock_days < 7"', 'when: "stock_days < 6.5"')
    assert 'when: "stock_days < 6.5"' in readme_block("### 4.")
    (served / "tests" / "f10_tuned_threshold.yaml").write_text(
        readme_block("its test, tests/f10_tuned_threshold.yaml"), encoding="utf-8"
    )
    validate_and_test(served)
    assert reload(api)["changes"]["changed"].get("alert") == ["stock_below_safety"]
    assert stock(api, "tea-500") == 0  # exactly 6.5 days no longer fires
