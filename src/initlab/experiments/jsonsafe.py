"""The one JSON-safe serializer of the experiments layer (results, exports, CLI --json output).

json_safe(v) returns a copy that ``json.dumps(..., allow_nan=False)`` accepts: every non-finite float
(NaN, inf, -inf: a diverged run) becomes None (JSON null), tuples become lists, dict keys strings,
NumPy scalars and 0-d tensors plain Python numbers.  No imports: usable from every layer.
"""
from __future__ import annotations

import math


def json_safe(v):
    """A strict-JSON copy of `v` (non-finite floats -> None; see the module docstring)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, int):
        return int(v)
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else str(k)): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:       # NumPy scalar, 0-d tensor
        try:
            return json_safe(v.item())
        except (TypeError, ValueError):
            return v
    return v
