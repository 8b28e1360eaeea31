"""Cross-checks of metrics, alerts, schedules, forecasts and notification templates."""

from __future__ import annotations

from dataclasses import replace

from engine.compiler.check_actions import NOTIFICATION_NAMES, check_actions
from engine.compiler.check_rules import check_literals
from engine.compiler.context import Context, Entry, Site, template_variables
from engine.crongap import shortest_gap_minutes
from engine.expr import ExprType, MetricSig
from engine.spec import AlertSpec, ForecastSpec, MetricSpec, NotificationSpec, ScheduleSpec
from engine.spec.signals import ForEach

T = ExprType
# Columns of the store's stage history that metrics may aggregate and group by.
HISTORY_COLUMNS: dict[str, ExprType] = {
    "workflow": T.STRING,
    "stage": T.STRING,
    "from_stage": T.STRING,
    "to_stage": T.STRING,
    "actor": T.STRING,
    "owner": T.STRING,
    "entered_at": T.DATETIME,
    "left_at": T.DATETIME,
    "dwell_hours": T.NUMBER,
    "outcome": T.STRING,
    "evidence_kind": T.STRING,
    "region": T.STRING,
    "record_id": T.STRING,
    # The record's status now (open, won, lost, closed): every stay of a deal reads
    # how the deal ended, so evidence and stages compare between won and lost (P8).
    "record_status": T.STRING,
}
ALERT_COLUMNS: dict[str, ExprType] = {
    "rule": T.STRING,
    "state": T.STRING,
    "severity": T.STRING,
    "fired_at": T.DATETIME,
    "resolved_at": T.DATETIME,
    "acked_at": T.DATETIME,
    "response_hours": T.NUMBER,
    "feedback": T.STRING,
    "owner": T.STRING,
}
_TIME_KINDS = ("date", "datetime")
# The duration column of each source that a metric's `calendar` counts in working time.
DURATION_COLUMNS = {"stage_history": "dwell_hours", "alerts": "response_hours"}


def metric_columns(ctx: Context, spec: MetricSpec) -> dict[str, ExprType]:
    """Return the columns a metric's source offers."""
    if spec.source == "records":
        return ctx.entities.get(spec.entity or "", {})
    if spec.source == "alerts":
        return ALERT_COLUMNS
    columns = dict(HISTORY_COLUMNS)
    stage = ctx.workflow_stages.get(spec.workflow or "")
    if stage:
        columns.update(
            {c: ExprType.enum(tuple(stage)) for c in ("stage", "from_stage", "to_stage")}
        )
    return columns


def check_metric(ctx: Context, entry: Entry[MetricSpec]) -> None:
    """Check a metric's source, measured column, filters, groups and window."""
    spec, site = entry.spec, entry.site
    if spec.source == "records" and not ctx.known(
        site.at("entity"), "entity", spec.entity, ctx.entities
    ):
        return
    if spec.workflow:
        ctx.known(site.at("workflow"), "workflow", spec.workflow, ctx.of("workflow"))
    columns = metric_columns(ctx, spec)
    label = f"{spec.source} of '{spec.entity or spec.workflow}': "
    if (
        spec.of
        and ctx.known(site.at("of"), "column", spec.of, columns, "unknown-field", label)
        and spec.measure not in ("count", "count_distinct")
        and columns[spec.of].kind not in ("integer", "number", "any")
    ):
        ctx.error(
            site.at("of"),
            "type-mismatch",
            f"'{spec.measure}' needs a number column; '{spec.of}' is {columns[spec.of].describe()}",
        )
    for name, value in spec.where.items():
        if ctx.known(site.at("where", name), "column", name, columns, "unknown-field", label):
            values = value if isinstance(value, list) else [value]
            check_literals(ctx, site.at("where", name), values, columns[name], name)
    for i, name in enumerate(spec.group_by):
        ctx.known(site.at("group_by", i), "column", name, columns, "unknown-field", label)
    _check_calendar(ctx, entry)
    _check_snapshot(ctx, entry, columns)
    if (
        spec.window
        and ctx.known(
            site.at("window", "on"), "column", spec.window.on, columns, "unknown-field", label
        )
        and columns[spec.window.on].kind not in _TIME_KINDS
    ):
        ctx.error(
            site.at("window", "on"),
            "type-mismatch",
            f"window column '{spec.window.on}' must be a date or datetime",
        )


def _check_snapshot(ctx: Context, entry: Entry[MetricSpec], columns: dict[str, ExprType]) -> None:
    """A stored snapshot is a number per group, kept at least one cadence."""
    spec, site = entry.spec, entry.site
    if spec.snapshot is None:
        return
    snap = spec.snapshot
    gap = (
        snap.every.seconds / 60
        if snap.every is not None
        else shortest_gap_minutes(snap.cron or "* * * * *")
    )
    if spec.keep is not None and gap is not None and spec.keep.seconds / 60 < gap:
        cadence = f"every {snap.every.text}" if snap.every else f"cron '{snap.cron}'"
        ctx.error(
            site.at("keep"),
            "keep-too-short",
            f"'keep: {spec.keep.text}' is shorter than the snapshot cadence ({cadence}): "
            "each snapshot would be deleted before the next is taken",
            "keep snapshots at least one cadence long",
        )


def _check_calendar(ctx: Context, entry: Entry[MetricSpec]) -> None:
    """A metric's `calendar` is known and has a duration to count: the measured column."""
    spec, site = entry.spec, entry.site
    calendars = ctx.manifest.spec.calendars if ctx.manifest else {}
    if spec.calendar is None or not ctx.known(
        site.at("calendar"), "calendar", spec.calendar, calendars
    ):
        return
    duration = DURATION_COLUMNS.get(spec.source)
    if duration is None:
        ctx.error(
            site.at("calendar"),
            "calendar-without-duration",
            f"{spec.source} metrics have no duration to count in working time",
            "remove 'calendar'",
        )
    elif spec.of != duration:
        measured = f"'{spec.of}'" if spec.of else "rows"
        ctx.error(
            site.at("calendar"),
            "calendar-without-duration",
            f"a calendar counts the working time of '{duration}'; this metric measures {measured}",
            f"measure 'of: {duration}' or remove 'calendar'",
        )
    places = [site.at("where", n) for n in spec.where if n == duration]
    places += [site.at("group_by", i) for i, n in enumerate(spec.group_by) if n == duration]
    for place in places:
        ctx.error(
            place,
            "calendar-without-duration",
            f"with a calendar, '{duration}' may only be measured, not filtered or grouped by",
        )


def metric_sig(ctx: Context, spec: MetricSpec) -> MetricSig:
    """Return the signature `metric('name', ...)` is checked against."""
    columns = metric_columns(ctx, spec)
    groups = tuple((g, columns.get(g, T.ANY)) for g in spec.group_by)
    return MetricSig(spec.name, groups, T.NUMBER)


def check_alert(ctx: Context, entry: Entry[AlertSpec]) -> None:
    """Check an alert's subject, conditions, key and actions."""
    spec, site = entry.spec, entry.site
    names: list[str]
    if spec.entity is not None:
        if not ctx.known(site.at("entity"), "entity", spec.entity, ctx.entities):
            return
        scope = ctx.scope_for(spec.entity)
        names = [*ctx.entities[spec.entity], "record", "now"]
        entity: str | None = spec.entity
    else:
        metrics = ctx.of("metric")
        if not ctx.known(site.at("metric"), "metric", spec.metric, metrics):
            return
        metric: MetricSpec = metrics[spec.metric or ""].spec
        cols = metric_columns(ctx, metric)
        row = {g: cols.get(g, T.ANY) for g in metric.group_by}
        row.update({"value": T.NUMBER, metric.name: T.NUMBER})
        scope = ctx.scope_for(None, context=row)
        names = [*row, "now"]
        entity = None
    ctx.expr(site.at("when"), spec.when, scope, T.BOOL, owner=spec, attr="when")
    ctx.expr(
        site.at("resolve_when"), spec.resolve_when, scope, T.BOOL, owner=spec, attr="resolve_when"
    )
    ctx.template(site.at("dedup_key"), spec.dedup_key, names)
    extra = None if entity else dict(scope.context)
    check_actions(ctx, site.at("actions"), spec.actions, entity, context=extra)
    check_actions(ctx, site.at("on_resolve"), spec.on_resolve, entity, context=extra)


def check_schedule(ctx: Context, entry: Entry[ScheduleSpec]) -> None:
    """Check a schedule's actions (they run without a record), per item of `for_each`."""
    spec, site = entry.spec, entry.site
    item: dict[str, ExprType] | None = None
    before = len(ctx.diagnostics)
    written = getattr(site.doc, "data", None)
    if spec.for_each is None and isinstance(written, dict) and "for_each" in written:
        return  # its for_each was refused: what the actions read of the item is unknown
    if spec.for_each is not None:
        item = for_each_item(ctx, site.at("for_each"), spec.for_each)
        if item is None:
            return  # its source is unknown: its actions' names cannot be checked
        scope = ctx.scope_for(None, context=item)
        where = spec.for_each.where
        at = site.at("for_each", "where")
        ctx.expr(at, where, scope, T.BOOL, owner=spec.for_each, attr="where")
    check_actions(ctx, site.at("actions"), spec.actions, None, context=item)
    _name_other_items(ctx, before, spec)
    check_item_templates(ctx, site, spec)


def check_forecast(
    ctx: Context, entry: Entry[ForecastSpec], entity: str | None, *, template: bool = False
) -> None:
    """Check a forecast's workflow (or workflow template), amount, close date and
    seasonal table."""
    spec, site = entry.spec, entry.site
    pool = [*ctx.of("workflow"), *ctx.of("workflow_template")]
    if (
        not (template or ctx.known(site.at("workflow"), "workflow", spec.workflow, pool))
        or entity is None
        or entity not in ctx.entities
    ):
        return
    fields = ctx.entities[entity]
    for key, kinds in (("amount", ("integer", "number")), ("close_date", _TIME_KINDS)):
        name = getattr(spec, key)
        if (
            ctx.known(site.at(key), "field", name, fields, "unknown-field", f"entity '{entity}': ")
            and fields[name].kind not in kinds
        ):
            ctx.error(
                site.at(key),
                "type-mismatch",
                f"'{key}' field '{name}' is "
                f"{fields[name].describe()}; it must be {' or '.join(kinds)}",
            )
    if spec.seasonality and ctx.known(
        site.at("seasonality"), "table", spec.seasonality, ctx.tables
    ):
        table = ctx.tables[spec.seasonality].spec
        if not table.range or "coefficient" not in table.columns:
            ctx.error(
                site.at("seasonality"),
                "bad-table",
                f"table '{spec.seasonality}' must have a date 'range' and a 'coefficient' column",
            )


def check_notification(ctx: Context, entry: Entry[NotificationSpec]) -> None:
    """Check a notification's subject and body templates."""
    ctx.template(entry.site.at("subject"), entry.spec.subject, NOTIFICATION_NAMES)
    ctx.template(entry.site.at("body"), entry.spec.body, NOTIFICATION_NAMES)


# The names a per-item schedule binds, by the kind of item (docs/language.md, for_each).
ITEM_NAMES = {"metric": ("group", "value"), "table": ("row",), "users": ("user",)}
_NO_ITEM = "outside a for_each schedule"


def for_each_item(ctx: Context, site: Site, spec: ForEach) -> dict[str, ExprType] | None:
    """Return the names one item binds (None: the source is unknown or not usable)."""
    if spec.metric is not None:
        metrics = ctx.of("metric")
        if not ctx.known(site.at("metric"), "metric", spec.metric, metrics):
            return None
        metric: MetricSpec = metrics[spec.metric].spec
        if not metric.group_by:
            ctx.error(
                site.at("metric"),
                "metric-not-grouped",
                f"metric '{spec.metric}' has no 'group_by': it has one value, not groups",
                "group the metric, or drop 'for_each' and read metric('name') in the actions",
            )
            return None
        cols = metric_columns(ctx, metric)
        types = {g: cols.get(g, T.ANY) for g in metric.group_by}
        group = (
            next(iter(types.values()))
            if len(types) == 1
            else T.record(f"group of metric '{metric.name}'", types)
        )
        return {"group": group, "value": T.NUMBER}
    if spec.table is not None:
        if not ctx.known(site.at("table"), "table", spec.table, ctx.tables):
            return None
        columns = dict(ctx.table_sigs[spec.table].columns)
        return {"row": T.record(f"table '{spec.table}' row", columns)}
    assert spec.users is not None
    if not ctx.known(site.at("users", "role"), "role", spec.users.role, ctx.roles):
        return None
    fields = ctx.user.fields or ()
    user = {n: t for n, t in fields if n not in ("load", "available")}
    return {"user": T.record("user", user)}


def _name_other_items(ctx: Context, since: int, spec: ScheduleSpec) -> None:
    """Say so when an action reads the item name of another source (`row` over a metric)."""
    source = spec.for_each.source if spec.for_each is not None else None
    given = ITEM_NAMES.get(source or "", ())
    for i in range(since, len(ctx.diagnostics)):
        d = ctx.diagnostics[i]
        for kind, names in ITEM_NAMES.items():
            for name in names:
                if d.code == "unknown-name" and d.message.startswith(f"name '{name}' is not"):
                    where = f"a for_each over a {source}" if source else _NO_ITEM
                    has = f"it gives {', '.join(given)}" if given else "there is no item"
                    message = f"'{name}' belongs to the item of a for_each over a {kind}; {where} "
                    message += f"does not give it ({has})"
                    ctx.diagnostics[i] = replace(d, message=message, hint="")


def check_item_templates(ctx: Context, site: Site, spec: ScheduleSpec) -> None:
    """A schedule's templates read only the item names its `for_each` gives."""
    source = spec.for_each.source if spec.for_each is not None else None
    given = ITEM_NAMES.get(source or "", ())
    others = sorted({n for names in ITEM_NAMES.values() for n in names} - set(given))
    where = f"a for_each over a {source}" if source else _NO_ITEM
    has = f"it gives {', '.join(given)}" if given else "there is no item"
    templates = ctx.of("notification")
    for i, action in enumerate(spec.actions):
        at = site.at("actions", i, action.name)
        texts: list[tuple[Site, str | None]] = []
        if action.notify is not None and action.notify.template in templates:
            body = templates[action.notify.template].spec
            texts += [(at.at("template"), body.subject), (at.at("template"), body.body)]
        if action.webhook is not None:
            texts += [(at.at("url"), action.webhook.url), (at.at("body"), action.webhook.body)]
        for place, text in texts:
            try:
                used = template_variables(text or "")
            except Exception:  # a template's syntax is reported where it is defined
                continue
            for name in others:
                if name in used:
                    ctx.error(
                        place,
                        "unknown-name",
                        f"template reads '{name}', which {where} does not give ({has})",
                        "read the names of this schedule's item",
                    )
                    break
