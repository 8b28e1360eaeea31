"""Version identity of a rule: a content hash of its compiled definition (decision 'reeval').

A rule's version is the first 12 hex digits of the SHA-256 of its spec as canonical
JSON, leaving out what does not change a decision (`title`, `description`, the
`reevaluate` block itself). A routing rule's version also covers the version of the
scoring model it uses as `match`. Editing an unrelated file keeps every other rule's
version, so only what a change really touches goes stale.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.bundle import Bundle

KIND_ATTRS: dict[str, str] = {
    "scoring": "scorings",
    "decision_table": "decision_tables",
    "routing": "routings",
}
# The `kind` an sf_decision row of each rule kind carries.
DECISION_KINDS: dict[str, str] = {
    "scoring": "score",
    "decision_table": "decision_table",
    "routing": "routing",
}
_LEFT_OUT = {"title", "description", "reevaluate"}
_CACHE: dict[tuple[int, str], tuple[Any, str]] = {}


def spec_of(bundle: Bundle, kind: str, name: str) -> Any:
    """Return the spec of a scoring, decision_table or routing rule (None if absent)."""
    item = getattr(bundle, KIND_ATTRS[kind]).get(name)
    return getattr(item, "spec", item)


def _digest(spec: Any, extra: str = "") -> str:
    # Cached by the spec object (held in the entry, so its id is not reused) and `extra`
    # (a routing rule's match model version): every routed record asks for it.
    found = _CACHE.get((id(spec), extra))
    if found is not None and found[0] is spec:
        return found[1]
    data = spec.model_dump(mode="json", exclude=_LEFT_OUT)
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + extra
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    if len(_CACHE) > 1024:
        _CACHE.clear()
    _CACHE[(id(spec), extra)] = (spec, version)
    return version


def rule_version(bundle: Bundle, kind: str, name: str) -> str | None:
    """Return the version of rule `name` of `kind` in `bundle` (None if it has none)."""
    spec = spec_of(bundle, kind, name)
    if spec is None:
        return None
    if kind == "routing" and spec.match:
        match = spec_of(bundle, "scoring", spec.match)
        return _digest(spec, _digest(match) if match is not None else "")
    return _digest(spec)
