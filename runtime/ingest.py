"""What an ingest merging into a stored record changes: each field's `on_ingest` policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.spec import FormSpec


def _is_set(value: Any) -> bool:
    return value is not None and value not in ("", [])


def merge_ingest(
    form: FormSpec, stored: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the changes an ingest makes to a stored record (P1, F2).

    A value the ingest does not give (or gives as null) leaves the stored one. Of the
    values it gives: `replace` (the default) takes it, `keep` takes it only where the
    record has none yet, `append` adds its items after the stored ones, in order.
    """
    changes: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        spec = form.fields.get(name)
        policy = spec.on_ingest if spec is not None else "replace"
        before = stored.get(name)
        if policy == "keep" and _is_set(before):
            continue
        if policy == "append" and isinstance(before, list) and isinstance(value, list):
            changes[name] = [*before, *value]
        else:
            changes[name] = value
    return changes
