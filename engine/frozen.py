"""Read-only containers, so that one compiled Bundle can serve every request safely."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, NoReturn

from pydantic import BaseModel

READ_ONLY = "a compiled Bundle is read-only"


def _refuse(*_: object, **__: object) -> NoReturn:
    raise TypeError(READ_ONLY)


class FrozenDict(dict[Any, Any]):
    """A dict that refuses every change (still a dict to pydantic, json and jinja2)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[dict[Any, Any]], tuple[dict[Any, Any]]]:
        return dict, (dict(self),)


class FrozenList(list[Any]):
    """A list that refuses every change (still a list to pydantic, json and jinja2)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[type[list[Any]], tuple[list[Any]]]:
        return list, (list(self),)


# Values with nothing inside to freeze: most leaves of a bundle, answered by one lookup.
_ATOMS: frozenset[type] = frozenset({str, int, float, bool, type(None), FrozenDict, FrozenList})


def deep_freeze(value: Any) -> Any:
    """Make dicts and lists inside `value` (spec models included) read-only, in place."""
    if type(value) in _ATOMS:
        return value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            object.__setattr__(value, name, deep_freeze(getattr(value, name)))
        if value.__pydantic_extra__:
            extra = FrozenDict({k: deep_freeze(v) for k, v in value.__pydantic_extra__.items()})
            object.__setattr__(value, "__pydantic_extra__", extra)
        return value
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list) and not isinstance(value, FrozenList):
        return FrozenList(deep_freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(deep_freeze(v) for v in value)
    if isinstance(value, MappingProxyType):
        return MappingProxyType({k: deep_freeze(v) for k, v in value.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            object.__setattr__(value, field.name, deep_freeze(getattr(value, field.name)))
    return value
