"""The files P9's definition test reloads (definitions/tests/.next/) are the live files
with only the change the test is about: a live file that changes must be copied again,
or the reload would silently revert that change while the test runs."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"

# copy -> (the live file it replaces, the lines only the copy has, the lines only the live
# file has), comments of the copy's header left out.
COPIES = {
    "p9_lead_scoring.yaml": (
        "rules/lead_scoring.yaml",
        [
            '  purchase_frequency: {value: "clamp(orders_90d / 12, 0, 1)", weight: 0.24, title: Purchase frequency}',
            '  policy_change: {value: "1 if policy_change else 0", weight: 0.02, title: Regional insurance policy change}',
            '  order_value: {value: "clamp(avg_order_value / 5000, 0, 1)", weight: 0.03, title: Average order value}',
        ],
        [
            '  purchase_frequency: {value: "clamp(orders_90d / 12, 0, 1)", weight: 0.14, title: Purchase frequency}',
            '  policy_change: {value: "1 if policy_change else 0", weight: 0.08, title: Regional insurance policy change}',
            '  order_value: {value: "clamp(avg_order_value / 5000, 0, 1)", weight: 0.07, title: Average order value}',
        ],
    ),
    "p9_opportunity.yaml": (
        "forms/opportunity.yaml",
        [
            "  delivery_window: {type: string, title: Delivery window}",
            "  warehouse_contact: {type: phone, title: Warehouse contact}",
            "  - tab: Delivery                         # P9: the tab the business user adds",
            "    fields: [delivery_window, warehouse_contact]",
        ],
        [],
    ),
    "p9_distributor_signing.yaml": (
        "workflows/distributor_signing.yaml",
        ["      forecast_weight: 0.4", "      forecast_weight: 0.6"],
        ["      forecast_weight: 0.3", "      forecast_weight: 0.5"],
    ),
}


def body(path: Path) -> list[str]:
    """Return a file's lines after its leading comment lines (the copy's header)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return lines


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_reloaded_copy_differs_from_the_live_file_only_by_its_change(copy: str) -> None:
    live, added, removed = COPIES[copy]
    diff = list(
        difflib.unified_diff(
            body(DEFINITIONS / live), body(DEFINITIONS / "tests" / ".next" / copy), n=0, lineterm=""
        )
    )
    got_added = [d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")]
    got_removed = [d[1:] for d in diff if d.startswith("-") and not d.startswith("---")]
    assert (got_added, got_removed) == (added, removed), (
        f"definitions/tests/.next/{copy} is no longer definitions/{live} with only P9's "
        "change: copy the live file again and make the change (its header says which)\n"
        + "\n".join(diff)
    )
