"""fit room: identify a Yeh-style block model from a NAM capture (or a DI/reamp pair).

API: ``fit_capture(path, FitConfig) -> FitResult``, ``fit_recording(di, target, cfg)``,
``write_result(res, out=None)`` (default: the bank ``./pedals/<stem>.pedal``), ``compare``;
``pedaltool.fit.metrics`` (ESR, pre-emphasised ESR, log-spectral distance).
"""

from pedaltool.fit.api import (
    BANK_DIR,
    SUPPORTED_RATES,
    FitConfig,
    FitResult,
    compare,
    fit_capture,
    write_result,
)
from pedaltool.fit.recording import fit_recording

__all__ = ["BANK_DIR", "SUPPORTED_RATES", "FitConfig", "FitResult", "compare", "fit_capture",
           "fit_recording", "write_result"]
