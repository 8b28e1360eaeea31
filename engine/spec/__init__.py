"""The spec models: one pydantic model per `kind:` of definition document."""

from __future__ import annotations

from engine.spec.base import LANGUAGE_VERSION, DocumentSpec, Duration, Spec, parse_duration
from engine.spec.form import FieldSpec, FormSpec
from engine.spec.manifest import BundleManifest, StaffDocument, TableDocument, TableSpec
from engine.spec.rules import DecisionTableSpec, RoutingSpec, ScoringSpec, ValidationSpec
from engine.spec.signals import (
    AlertSpec,
    ForecastSpec,
    MetricSpec,
    NotificationSpec,
    ScheduleSpec,
)
from engine.spec.workflow import WorkflowSpec, WorkflowTemplateSpec

# Every kind of document, in the order docs and the JSON Schema list them.
KINDS: dict[str, type[DocumentSpec]] = {
    "bundle": BundleManifest,
    "table": TableDocument,
    "staff": StaffDocument,
    "form": FormSpec,
    "workflow": WorkflowSpec,
    "workflow_template": WorkflowTemplateSpec,
    "scoring": ScoringSpec,
    "routing": RoutingSpec,
    "decision_table": DecisionTableSpec,
    "validation": ValidationSpec,
    "alert": AlertSpec,
    "metric": MetricSpec,
    "schedule": ScheduleSpec,
    "forecast": ForecastSpec,
    "notification": NotificationSpec,
}

__all__ = [
    "KINDS",
    "LANGUAGE_VERSION",
    "AlertSpec",
    "BundleManifest",
    "DecisionTableSpec",
    "DocumentSpec",
    "Duration",
    "FieldSpec",
    "ForecastSpec",
    "FormSpec",
    "MetricSpec",
    "NotificationSpec",
    "RoutingSpec",
    "ScheduleSpec",
    "ScoringSpec",
    "Spec",
    "StaffDocument",
    "TableDocument",
    "TableSpec",
    "ValidationSpec",
    "WorkflowSpec",
    "WorkflowTemplateSpec",
    "parse_duration",
]
