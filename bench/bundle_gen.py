"""Generate a realistic bundle of N definition files, modelled on `definitions/`.

One manifest (`bundle.yaml`: roles, typed user fields, users, teams, queues, a
calendar, a shared seasonal table) plus "business units" of ten files each:
reference tables, a form (17 fields, a computed one, normalisers), notification
templates, a six-stage workflow (evidence, guards, SLAs), a 17-feature score,
a match score with its routing rule, a decision table, validations, metrics with
alerts, and schedules with a forecast. Names carry the unit number, so nothing is
defined twice, and files come in dependency order, so a bundle cut short in the
middle of a unit still has every cross reference resolved.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from bench.bundle_templates import MANIFEST, UNIT_FILES

REGIONS = ("sichuan", "chongqing", "yunnan", "guizhou", "shaanxi", "gansu")
DOMAINS = ("pharmacy", "clinic", "distributor", "retail", "hospital", "wholesale", "kiosk")
OBJECTS = ("lead", "deal", "visit", "ticket", "order")
FILES_PER_UNIT = 10
REPS = 24


def _unit_values(i: int) -> dict[str, str]:
    """Return the names and numbers that make unit `i` differ from the others."""
    domain, obj = DOMAINS[i % len(DOMAINS)], OBJECTS[(i // len(DOMAINS)) % len(OBJECTS)]
    p = f"{domain}_{obj}_{i:03d}"
    regions = [REGIONS[(i + k) % len(REGIONS)] for k in range(3)]
    bands = [f"b{k}" for k in range(8)]
    band_rows = "\n".join(
        f"  - {{band: {b}, region: {regions[k % 3]}, max_price: {20 + 5 * k + i % 7}.5,"
        f" note: band {k} of unit {i}}}"
        for k, b in enumerate(bands)
    )
    district_rows = "\n".join(
        f"  - {{variant: {name}, canonical: {regions[k % 3].title()} {base} District}}"
        for k, base in enumerate(("Jinjiang", "Wuhou", "Qingyang"))
        for name in (f"{base} District", f"{base}", f"{regions[k % 3].title()} {base} District")
    )
    return {
        "p": p,
        "e": p,
        "title": f"{domain.title()} {obj} {i}",
        "regions": ", ".join(regions),
        "region": regions[0],
        "band_rows": band_rows,
        "district_rows": district_rows,
        "sla": str(7 + i % 10),
        "min_score": str(30 + i % 40),
        "quote_hours": str(48 + 8 * (i % 4)),
        "orders": str(10 + i % 6),
        "stock_days": str(5 + i % 5),
        "stock_ok": str(8 + i % 5),
        "threshold": str(50 + i % 40),
        "strategy": ("least_loaded", "best_match", "load_weighted", "round_robin")[i % 4],
        "vip_score": str(80 + i % 15),
        "low_score": str(20 + i % 30),
        "dwell": str(60 + i % 30),
        "dwell_ok": str(40 + i % 20),
        "every": str(24 * (1 + i % 3)),
        "minute": str(i % 60),
        "team": f"team_{i % 4}",
    }


def _manifest(units: int) -> str:
    users = []
    for k in range(REPS):
        region = REGIONS[k % len(REGIONS)]
        spec = ["otc", "prescription", "devices"][k % 3]
        users.append(
            f"  rep.{k:02d}: {{name: Rep {k}, roles: [rep], manager: mgr.{k % 4}, capacity: "
            f"{20 + k % 3 * 10}, calendar: office, specialty: [{spec}], territory: "
            f"[Jinjiang District, Wuhou District], region: {region}}}"
        )
    users += [
        f"  mgr.{k}: {{name: Manager {k}, roles: [manager], manager: dir.0}}" for k in range(4)
    ]
    users += [
        "  dir.0: {name: Director, roles: [director]}",
        "  agent.0: {name: Agent, roles: [agent]}",
        "  admin: {name: Administrator, roles: [admin]}",
    ]
    teams = [
        f"  team_{t}: {{title: Team {t}, members: "
        f"[{', '.join(f'rep.{k:02d}' for k in range(t, REPS, 4))}], lead: mgr.{t}}}"
        for t in range(4)
    ]
    queues = [
        f"  {_unit_values(i)['p']}_unmatched: {{title: Unmatched records of unit {i}, "
        "visible_to: [manager, director]}"
        for i in range(units)
    ]
    return MANIFEST.substitute(
        units=units,
        regions=", ".join(REGIONS),
        users="\n".join(users) + "\n",
        teams="\n".join(teams) + "\n",
        queues="\n".join(queues) + "\n",
    )


def generate_bundle(root: Path | str, files: int = 500) -> list[Path]:
    """Write a bundle of exactly `files` definition files (>= 1) under `root`; return them."""
    if files < 1:
        raise ValueError("a bundle has at least its manifest")
    root = Path(root)
    units = -(-(files - 1) // FILES_PER_UNIT)
    plan: list[tuple[Path, str]] = [(root / "bundle.yaml", _manifest(units))]
    for n in range(files - 1):
        i, k = divmod(n, FILES_PER_UNIT)
        values = _unit_values(i)
        name, template = UNIT_FILES[k]
        plan.append((root / Template(name).substitute(values), template.substitute(values)))
    for path, text in plan:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in plan]
