"""What marks a YAML document as a definition test (`kind: test`), without the test models.

The compiler only needs to set test documents aside; keeping this apart from
engine.spec.testing spares `sopflow validate` building the test spec models at import.
"""

from __future__ import annotations

from typing import Any

TEST_KIND = "test"


def is_test(doc: Any) -> bool:
    """Tell whether a YAML document (engine.yamlsource.Document) is a test, not a definition."""
    data = getattr(doc, "data", None)
    return isinstance(data, dict) and data.get("kind") == TEST_KIND
