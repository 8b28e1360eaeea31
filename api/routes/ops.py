"""Routes of the operations side: alerts (api/routes/alerts.py), metrics (api/routes/metrics.py)."""

from __future__ import annotations

from typing import Any

from api.routes import alerts, metrics

ROUTES: list[Any] = [*alerts.ROUTES, *metrics.ROUTES]
