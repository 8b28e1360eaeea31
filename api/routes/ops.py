"""Routes of the operations side: alerts, metrics and schedules (api/routes/*.py)."""

from __future__ import annotations

from typing import Any

from api.routes import alerts, metrics, schedules

ROUTES: list[Any] = [*alerts.ROUTES, *metrics.ROUTES, *schedules.ROUTES]
