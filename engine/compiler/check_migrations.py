"""Checks of declared definition migrations: `renamed_from`, `removed_fields`, `removed_stages`.

A migration names old names that the stored data may still hold; each old name must
lead to exactly one new place, never to a name the definitions still use, and a removed
stage's records must have a stage to go to (docs/language.md "Changing definitions
safely"). Whether the data holds the old names is the pre-flight's business, not the
compiler's: a rename of something no longer stored is a no-op.
"""

from __future__ import annotations

from engine.compiler.context import Context, Entry, Site
from engine.spec import FormSpec
from engine.spec.workflow import WorkflowBody, WorkflowSpec

CLASH = "migration-clash"


def check_form_migrations(ctx: Context, forms: dict[str, Entry[FormSpec]]) -> None:
    """Check entity and field renames and removed fields of every form."""
    entity_from: dict[str, str] = {}
    for entity, entry in forms.items():
        form, site = entry.spec, entry.site
        old = form.renamed_from
        if old is not None:
            at = site.at("renamed_from")
            if old == entity:
                ctx.error(at, CLASH, f"entity '{entity}' is renamed from itself", "remove it")
            elif old in forms:
                ctx.error(
                    at,
                    CLASH,
                    f"entity '{entity}' is renamed from '{old}', which is still a form",
                    f"remove 'renamed_from', or remove form '{old}' (its records would "
                    "become this entity's)",
                )
            elif old in entity_from:
                ctx.error(
                    at,
                    CLASH,
                    f"entities '{entity_from[old]}' and '{entity}' are both renamed from '{old}'",
                    "an old entity's records can take one new name only",
                )
            else:
                entity_from[old] = entity
        _fields(ctx, form, site)


def _fields(ctx: Context, form: FormSpec, site: Site) -> None:
    renamed: dict[str, str] = {}
    for name, field in form.fields.items():
        old = field.renamed_from
        if old is None:
            continue
        at = site.at("fields", name, "renamed_from")
        if old == name:
            ctx.error(at, CLASH, f"field '{name}' is renamed from itself", "remove it")
        elif old in form.fields:
            again = form.fields[old].renamed_from
            ctx.error(
                at,
                CLASH,
                f"field '{name}' is renamed from '{old}', which form '{form.entity}' "
                "still declares"
                + (f" (itself renamed from '{again}': renames do not chain)" if again else ""),
                f"rename '{old}' in place instead, or remove field '{old}'",
            )
        elif old in renamed:
            ctx.error(
                at,
                CLASH,
                f"fields '{renamed[old]}' and '{name}' are both renamed from '{old}'",
                "an old field's values can move to one new field only",
            )
        elif old in form.removed_fields:
            ctx.error(
                at,
                CLASH,
                f"field '{name}' is renamed from '{old}', which 'removed_fields' also lists",
                f"keep one: renamed (values kept in '{name}') or removed (values to history)",
            )
        else:
            renamed[old] = name
    for name in form.removed_fields:
        if name in form.fields:
            ctx.error(
                site.at("removed_fields", name),
                "migration-still-present",
                f"'removed_fields' lists '{name}', which form '{form.entity}' still declares",
                f"remove '{name}' from 'fields' or from 'removed_fields'",
                key=True,
            )


def check_workflow_migrations(
    ctx: Context, entry: Entry[WorkflowSpec], body: WorkflowBody, body_site: Site
) -> None:
    """Check stage renames and removed stages of one workflow (its body may be a template's)."""
    spec, site = entry.spec, entry.site
    ids = [s.id for s in body.stages] + [e.id for e in body.exits]
    renamed: dict[str, str] = {}
    for i, stage in enumerate(body.stages):
        old = stage.renamed_from
        if old is None:
            continue
        at = body_site.at("stages", i, "renamed_from")
        if old == stage.id:
            ctx.error(at, CLASH, f"stage '{stage.id}' is renamed from itself", "remove it")
        elif old in ids:
            ctx.error(
                at,
                CLASH,
                f"stage '{stage.id}' is renamed from '{old}', which workflow '{spec.name}' "
                "still has",
                f"rename '{old}' in place instead, or remove stage '{old}' (with "
                f"'removed_stages: {{{old}: {{move_to: {stage.id}}}}}')",
            )
        elif old in renamed:
            ctx.error(
                at,
                CLASH,
                f"stages '{renamed[old]}' and '{stage.id}' are both renamed from '{old}'",
                "an old stage's records can move to one new stage only",
            )
        else:
            renamed[old] = stage.id
    for name, removed in spec.removed_stages.items():
        at = site.at("removed_stages", name)
        if name in ids:
            ctx.error(
                at,
                "migration-still-present",
                f"'removed_stages' lists '{name}', which workflow '{spec.name}' still has",
                f"remove stage '{name}', or drop it from 'removed_stages'",
                key=True,
            )
            continue
        if name in renamed:
            ctx.error(
                at,
                CLASH,
                f"'{name}' is both removed and the old id of stage '{renamed[name]}'",
                "keep one: the rename (records follow it) or the removal",
                key=True,
            )
            continue
        target = removed.move_to
        if target in [e.id for e in body.exits]:
            ctx.error(
                at.at("move_to"),
                "unknown-stage",
                f"removed stage '{name}' moves its records to '{target}', which is an exit",
                "move them to a stage; closing records is a business decision, made by a "
                "person or a rule, not by a definition change",
            )
        elif target in spec.removed_stages:
            ctx.error(
                at.at("move_to"),
                "unknown-stage",
                f"removed stage '{name}' moves its records to '{target}', which is removed too",
                f"move them to a stage workflow '{spec.name}' has",
            )
        else:
            ctx.known(
                at.at("move_to"),
                "stage",
                target,
                [s.id for s in body.stages],
                "unknown-stage",
                f"removed stage '{name}': ",
            )
