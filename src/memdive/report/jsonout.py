"""JSON output: records become plain dicts (bytes as integers, times in seconds)."""

from __future__ import annotations

import json
import math

_SCALARS = frozenset((int, str, bool, type(None)))


def to_jsonable(obj: object) -> object:
    """Records (dataclasses and named-tuple records) become dicts, recursively; containers of
    scalars are copied without a call per element (maps of a process can hold 10^5 mappings)."""
    t = type(obj)
    if t in _SCALARS:
        return obj
    if t is dict:
        return {str(k): v if type(v) in _SCALARS else to_jsonable(v) for k, v in obj.items()}  # type: ignore[attr-defined]
    fields = getattr(obj, "_fields", None)
    if fields is not None:  # named-tuple records (models.process, ps, ...)
        return {k: v if type(v) in _SCALARS else to_jsonable(v) for k, v in zip(fields, obj)}  # type: ignore[call-overload]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [v if type(v) in _SCALARS else to_jsonable(v) for v in obj]
    if hasattr(t, "__dataclass_fields__"):
        import dataclasses

        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)  # type: ignore[arg-type]
                if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy scalars/arrays
        return obj.tolist()  # type: ignore[attr-defined]
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


def dumps(obj: object, indent: int | None = None) -> str:
    """Compact by default (the C encoder; fast for 10^5 records); indent for humans."""
    return json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False)
