"""One SIMD level for numpy and OpenBLAS on every x86-64 machine, so that a fit is reproducible.

A fit is chaotic in the order of its floating-point sums (docs/fitting-log.md, "How far a score
moves between equally valid runs"), and numpy and OpenBLAS pick their kernels by the CPU at run
time: on a CPU with AVX-512 they take other kernels, which round differently, than on one with
AVX2 only. The same capture then fits to a different model (2026-12-05: on an AVX-512 Xeon the
Klon scored 0.0119 where an AVX2 EPYC wrote 0.0095, its target 0.01; pinned, the Xeon wrote the
EPYC's eleven scored models to every printed digit). Both libraries read the level from the
environment once, when they load, so :func:`pin` must run before numpy is first imported:
``pedaltool/__init__.py`` calls it.

The level is x86-64-v3 (AVX2 + FMA, OpenBLAS's ``Haswell`` kernels), which x86 CPUs have had
since 2013. numpy's variable is set only on CPUs with AVX-512, the only ones where numpy would
choose otherwise. numba needs no pin: without fastmath its code does not reassociate sums.
Other architectures, and x86 CPUs below v3, are left as they are. ``PEDALTOOL_NATIVE_SIMD=1``
opts out (faster renders on AVX-512, results that depend on the CPU), and a variable the user
set is never overridden. A numpy built with AVX-512 in its baseline (not PyPI's wheels)
refuses the numpy variable at import: run it with ``PEDALTOOL_NATIVE_SIMD=1``.

This module imports nothing heavy: numpy must not be loaded by the time it runs.
"""

from __future__ import annotations

import os
import platform
import sys

# numpy's dispatch targets above x86-64-v3: the psABI groups of numpy >= 2.4 and the feature
# names of older releases. numpy disables the names it knows and ignores the others (with an
# ImportWarning, hidden by Python's default filters).
_NUMPY_ABOVE_V3 = ("X86_V4 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX "
                   "AVX512_CNL AVX512_ICL AVX512_SPR")
_OPENBLAS_V3 = "Haswell"
_V3_FLAGS = frozenset({"avx2", "fma", "bmi2"})  # what the pinned kernels execute


def pin_settings(machine: str, cpu_flags: frozenset[str], environ: dict[str, str],
                 numpy_loaded: bool) -> dict[str, str]:
    """The environment variables to set (none when the pin does not apply or is opted out).

    ``machine`` is ``platform.machine()``; ``cpu_flags`` the CPU's flags as /proc/cpuinfo
    spells them (empty when unknown). Nothing is set once numpy is loaded: the parent would
    keep its own kernels while spawned children took the pinned ones.
    """
    if numpy_loaded or environ.get("PEDALTOOL_NATIVE_SIMD", "") not in ("", "0"):
        return {}
    if machine.lower() not in ("x86_64", "amd64") or not _V3_FLAGS <= cpu_flags:
        return {}
    wanted = {"OPENBLAS_CORETYPE": _OPENBLAS_V3}
    if "avx512f" in cpu_flags:  # below it numpy has nothing to disable
        wanted["NPY_DISABLE_CPU_FEATURES"] = _NUMPY_ABOVE_V3
    return {k: v for k, v in wanted.items() if k not in environ}


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (Linux), e.g. "flags" or "model name";
    None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> frozenset[str]:
    """The CPU's flags from /proc/cpuinfo (Linux); empty where it cannot be read."""
    return frozenset((cpuinfo("flags") or "").split())


def pin() -> dict[str, str]:
    """Set :func:`pin_settings` in ``os.environ``; returns what was set."""
    settings = pin_settings(platform.machine(), cpu_flags(), dict(os.environ),
                            "numpy" in sys.modules)
    os.environ.update(settings)
    return settings


def describe() -> str:
    """Which kernels this process runs, for reports: ``x86-64-v3 (pinned)`` when the
    environment holds what :func:`pin` sets on this CPU, else ``native``, with OpenBLAS's
    kernel names (``OpenBLAS Haswell``: every OpenBLAS loaded so far, numpy's and scipy's)."""
    import numpy  # noqa: F401  (loads its OpenBLAS, if nothing has yet)
    from threadpoolctl import threadpool_info

    archs = sorted({i.get("architecture") or "?" for i in threadpool_info()
                    if i.get("internal_api") == "openblas"})
    pinned = pin_settings(platform.machine(), cpu_flags(), {}, numpy_loaded=False)
    level = ("x86-64-v3 (pinned)" if pinned and all(os.environ.get(k) == v
                                                    for k, v in pinned.items()) else "native")
    return f"{level}, OpenBLAS {'/'.join(archs) or '?'}"

