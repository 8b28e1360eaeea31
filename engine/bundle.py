"""The compiled, immutable Bundle that the runtime executes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.compiler.cells import Matcher
from engine.expr import CompiledExpression, EvaluationError, ExprType, MissingRow
from engine.spec import (
    AlertSpec,
    BundleManifest,
    DecisionTableSpec,
    ForecastSpec,
    FormSpec,
    MetricSpec,
    NotificationSpec,
    RoutingSpec,
    ScheduleSpec,
    ScoringSpec,
    TableSpec,
    ValidationSpec,
)
from engine.spec.workflow import WorkflowBody, WorkflowTemplateSpec
from engine.tablecode import build_decider

if TYPE_CHECKING:
    from engine.moves import MoveCheck


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a read-only view of a dict."""
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class CompiledForm:
    """An entity: its spec, field types and computed fields in evaluation order."""

    spec: FormSpec
    types: Mapping[str, ExprType]
    computed: Mapping[str, CompiledExpression]
    computed_order: tuple[str, ...]


@dataclass(frozen=True)
class CompiledWorkflow:
    """A workflow: its (template-filled) body, allowed moves and compiled guards."""

    name: str
    body: WorkflowBody
    params: Mapping[str, Any]
    template: str | None
    moves: frozenset[tuple[str, str]]
    guards: Mapping[str, CompiledExpression]
    # Stages that are gone -> where their records move (`removed_stages`: RemovedStage).
    removed_stages: Mapping[str, Any] = field(default_factory=lambda: frozen({}))

    @property
    def entity(self) -> str:
        """Return the entity this workflow runs on."""
        return self.body.entity

    def may_move(self, source: str, target: str) -> bool:
        """Tell whether the workflow allows moving from `source` to `target`."""
        return (source, target) in self.moves

    @cached_property
    def move_checks(self) -> dict[str | None, dict[str, MoveCheck]]:
        """Return the move checks read so far: source -> target -> MoveCheck (engine/moves.py)."""
        return {}


@dataclass(frozen=True)
class CompiledScoring:
    """A scoring model and its compiled features (in declaration order)."""

    spec: ScoringSpec
    features: tuple[CompiledExpression, ...]


class UniqueHitError(ValueError):
    """A `hit: unique` decision table matched more than one row (1-based row numbers)."""

    def __init__(self, table: str, rows: list[int]) -> None:
        self.table, self.rows = table, rows
        shown = ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"
        super().__init__(f"decision table '{table}' (hit: unique) matched rows {shown}")


class OutputError(EvaluationError):
    """A decision-table output cell `= expression` failed: which output, and the error."""

    def __init__(self, error: EvaluationError, output: str) -> None:
        super().__init__(error.source, error.message)
        self.output = output


@dataclass(slots=True)
class TableResult:
    """What a decision table decided: the matching rows (0-based) and the outputs to set.

    Not frozen: one is made per decision, and building a frozen dataclass took longer
    than the rest of a `hit: first` decision (docs/decisions.md).
    """

    rows: list[int]
    values: list[Any] | None  # None: no row matched and there is no default
    defaulted: bool = False
    # Output cells written `= expression` that ran: row (1-based, or "default"), output,
    # expression and its value, in row then column order.
    computed: list[dict[str, Any]] = field(default_factory=list)


def _aggregate(how: str | None, column: list[Any]) -> Any:
    if how is None:
        return column
    if how == "count":
        return len(column)
    present = [v for v in column if v is not None]
    if how == "sum":
        return sum(present)
    if not present:
        return None
    return max(present) if how == "max" else min(present)


@dataclass(frozen=True)
class CompiledDecisionTable:
    """A decision table: compiled inputs and one matcher per input cell of each row."""

    spec: DecisionTableSpec
    inputs: tuple[CompiledExpression, ...]
    rows: tuple[tuple[Matcher, ...], ...]
    # Per row, per output: the compiled `= expression` of the cell, or None for a literal.
    cells: tuple[tuple[CompiledExpression | None, ...], ...] = ()
    default_cells: tuple[CompiledExpression | None, ...] = ()

    @cached_property
    def evaluate(self) -> Callable[[Mapping[str, Any], Mapping[str, Any]], TableResult]:
        """Return fn(record, context) -> the matching rows and the outputs they set.

        first: the first matching row; unique: the only one (more raise UniqueHitError);
        collect: every matching row, each output a list or its declared aggregate.
        No row: the default's values when there is one. Output cells written
        `= expression` are evaluated for the rows used (an EvaluationError propagates).
        fn is generated from the table on first use (engine/tablecode.py): the rows are
        tested in order with their cells inlined, and `first` stops at the first match.
        """
        return build_decider(self, TableResult)

    def finish(
        self, matched: list[int], record: Mapping[str, Any], context: Mapping[str, Any]
    ) -> TableResult:
        """Return the result for the rows that matched (0-based, in order), per the hit
        policy: the default when none did, the outputs of the rows used otherwise."""
        spec = self.spec
        width = len(spec.inputs)
        computed: list[dict[str, Any]] = []

        def outputs_of(
            row: str | int, cells: list[Any], exprs: tuple[CompiledExpression | None, ...]
        ) -> list[Any]:
            out = list(cells)
            for j, expr in enumerate(exprs):
                if expr is not None:
                    try:
                        out[j] = expr.fn(record, context)
                    except MissingRow:
                        raise
                    except EvaluationError as exc:
                        raise OutputError(exc, spec.outputs[j]) from exc
                    computed.append(
                        {
                            "row": row,
                            "output": spec.outputs[j],
                            "expression": expr.source.strip(),
                            "value": out[j],
                        }
                    )
            return out

        if not matched:
            if spec.default is None:
                return TableResult([], None)
            default = outputs_of("default", spec.default, self.default_cells)
            return TableResult([], default, True, computed)
        if spec.hit == "unique" and len(matched) > 1:
            raise UniqueHitError(spec.name, [i + 1 for i in matched])
        used = matched if spec.hit == "collect" else matched[:1]
        rows = [outputs_of(i + 1, spec.rows[i][width:], self.row_cells(i)) for i in used]
        if spec.hit != "collect":
            return TableResult(used, rows[0], False, computed)
        outputs = [
            _aggregate(spec.aggregate_of(name), [row[j] for row in rows])
            for j, name in enumerate(spec.outputs)
        ]
        return TableResult(matched, outputs, False, computed)

    def row_cells(self, i: int) -> tuple[CompiledExpression | None, ...]:
        """Return row `i`'s compiled output expressions (None for a literal cell)."""
        return self.cells[i] if i < len(self.cells) else ()


@dataclass(frozen=True)
class Bundle:
    """A compiled bundle: immutable, identified by the hash of its files' content."""

    name: str
    hash: str
    manifest: BundleManifest
    files: tuple[str, ...]
    tables: Mapping[str, TableSpec]
    forms: Mapping[str, CompiledForm]
    workflows: Mapping[str, CompiledWorkflow]
    scorings: Mapping[str, CompiledScoring]
    decision_tables: Mapping[str, CompiledDecisionTable]
    validations: Mapping[str, tuple[ValidationSpec, CompiledExpression]]
    routings: Mapping[str, RoutingSpec]
    alerts: Mapping[str, AlertSpec]
    metrics: Mapping[str, MetricSpec]
    schedules: Mapping[str, ScheduleSpec]
    forecasts: Mapping[str, ForecastSpec]
    notifications: Mapping[str, NotificationSpec]
    counts: Mapping[str, int] = field(default_factory=dict)
    templates: Mapping[str, WorkflowTemplateSpec] = field(default_factory=dict)
    expressions: Mapping[tuple[int, str], CompiledExpression] = field(
        default_factory=dict, repr=False
    )

    def expr(self, part: object, attr: str) -> CompiledExpression:
        """Return the compiled expression at `attr` of a spec part held by this bundle.

        `part` is the very object found in the bundle (an ActionSpec for `when`, a
        RoutingSpec for `eligible`, a SetFieldsAction for `fields.<name>`...). Every
        expression was compiled and checked when the bundle was built; a miss here
        is a bug in the caller (an object from another bundle), not bad input.
        """
        try:
            return self.expressions[(id(part), attr)]
        except KeyError:
            raise LookupError(
                f"no compiled expression '{attr}' on {type(part).__name__} in this bundle"
            ) from None

    def forecast_workflows(self, spec: ForecastSpec) -> list[str]:
        """Return the workflows a forecast covers (F8): its workflow, or every workflow
        made from the workflow template it names, in declaration order."""
        if spec.workflow in self.workflows:
            return [spec.workflow]
        return [n for n, wf in self.workflows.items() if wf.template == spec.workflow]

    def forecast_weights(self, spec: ForecastSpec) -> dict[str, float]:
        """Return the stage weights of a forecast's workflows (a template's workflows
        share them: the first workflow declaring a stage gives its weight)."""
        weights: dict[str, float] = {}
        for name in self.forecast_workflows(spec):
            for stage in self.workflows[name].body.stages:
                if stage.forecast_weight is not None:
                    weights.setdefault(stage.id, stage.forecast_weight)
        return weights

    def summary(self) -> str:
        """Return one line saying what was compiled."""
        parts = ", ".join(f"{n} {k}{'' if n == 1 else 's'}" for k, n in self.counts.items() if n)
        return f"bundle '{self.name}' ({self.hash[:12]}): {len(self.files)} files, {parts}"
