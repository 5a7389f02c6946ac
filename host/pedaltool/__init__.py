"""pedaltool: Neural Amp Modeler captures -> tiny block models for MicroPython pedals."""

from pedaltool import simd_level as _simd_level

# before anything imports numpy: the same kernels, so the same fits, on every x86-64 CPU
_simd_level.pin()

__version__ = "0.1.0"

# the layout of every JSON report (fit, compare, info): raised when a key changes meaning or
# goes (docs/fitting.md, "The JSON report")
JSON_SCHEMA = 1


def json_report(fields: dict) -> dict:
    """``fields`` as a JSON report: ``schema`` first, then the rest in order."""
    return {"schema": JSON_SCHEMA, **fields}


def json_text(data, indent: int | None = 2) -> str:
    """``data`` as strict JSON, as every report pedaltool writes gives it: numpy scalars as
    numbers, NaN and infinities as null (a score on too little signal can be NaN, and a file's
    metadata can hold anything)."""
    import json
    import math

    def finite(v):
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps(finite(json.loads(json.dumps(data, default=float))), indent=indent,
                      allow_nan=False)
