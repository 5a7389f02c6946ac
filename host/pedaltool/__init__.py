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
