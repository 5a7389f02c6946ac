"""The fitter's public API: ``fit_capture(path, FitConfig) -> FitResult``, ``fit_recording``,
``compare``. See docs/fitting.md for the method and the bank folder."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from scipy import signal as sps

from pedaltool import signals, simd_level
from pedaltool.audio import (
    gain_to_db,
    note_lines,
    peak_dbfs,
    rate_note,
    resample,
    rms_dbfs,
    silence_text,
    silent,
)
from pedaltool.errors import FitError, PedalFormatError
from pedaltool.fit import core, metrics
from pedaltool.fit import structure as S
from pedaltool.fit.blocks import BlockModel
from pedaltool.fit.convert import KNOB_RANGES, to_pedal_model
from pedaltool.fit.lag import cross_correlation, lag_window
from pedaltool.fit.report import idle_text
from pedaltool.fit.schedule import Task, Workers, one_blas_thread, run_graph
from pedaltool.nam.model import calibration_problem, check_finite_output
from pedaltool.pedal import cost as pedal_cost
from pedaltool.pedal.accuracy import contract_idle_dbfs
from pedaltool.pedal.model import RECORDED_GEAR, SourceInfo
from pedaltool.pedal.quantise import IDLE_LIMIT_DBFS  # the contract's idle floor (dBFS)
from pedaltool.progress import every as progress_every

SUPPORTED_RATES = (48000, 44100, 32000)
# captures at other rates are rendered at their own rate and resampled (Oracle)
MIN_CAPTURE_RATE, MAX_CAPTURE_RATE = 8000, 192000
MAX_RECEPTIVE_FIELD_S = 1.0
BANK_DIR = Path("pedals")  # relative to the working directory; `pedaltool flash` reads it
RUNNER_UP_MARGIN = 1.25  # long-fit the runner-up only within this factor of the best
MAX_USEFUL_ESR = 0.95  # at or above this the model explains ~nothing: refuse to write it
# device-exact output this far (ESR) from its own float model: the integer arithmetic lost
# it (real fits: at most 7e-4), so the file would not be the model that was fitted
MAX_DEVICE_VS_FLOAT_ESR = 0.1
# a capture output's RMS outside this (dBFS) is named as the likely cause of such a loss (a
# quieter output than QUIET_OUTPUT_DBFS is warned about while fitting already)
PEDAL_LEVEL_DBFS = (-70.0, 0.0)
# an output (a capture's on the evaluation DI, a pair's reamp) quieter than this RMS (dBFS)
# gets a warning: the scored captures give -34..-12; a TS9 pair's reamp turned down to -48,
# -58 and -68 dBFS was fitted as well (ESR 0.0022, 0.0021, 0.0027) but its device-exact output
# strayed from the float model by 1.5e-5, 9.2e-5 and 8.5e-4 (2.4e-6 at its own -28 dBFS;
# 2026-12-06)
QUIET_OUTPUT_DBFS = -45.0
QUIET_MARGIN = 1.25  # a finalist that idles within the limit wins over a louder one this close


@dataclass(frozen=True)  # (its checks are made once, in __post_init__: nothing changes it later)
class FitConfig:
    """How to fit. budget: cycles/sample on ``arch`` (firmware cost model); rate: the pedal's
    sample rate (Hz); effort: 'quick' (fewer iterations, no envelope promotion: tests),
    'normal' (SATURATING_LONG_ITERATIONS long-fit iterations on a saturating capture, 12 on a
    mild one) or 'thorough' (THOROUGH_DATASETS fitting datasets, every flavour long-fitted on
    each with 24 iterations; saturating captures get wh3 too and
    THOROUGH_SATURATING_PLAYING_S of playing per dataset: 1.5-10x the fit time of 'normal');
    both promote the two best long fits to an envelope version when the budget allows
    (PROMOTE); flavours: which structure flavours to consider (None = those suited to the
    capture's gain compression, see ``core.flavours_for``); workers: processes for the
    independent sub-fits (0 = one per core, at most 2; the results do not depend on it)."""

    budget: float = S.DEFAULT_BUDGET
    rate: int = 48000
    arch: str = S.DEFAULT_ARCH
    effort: str = "normal"
    flavours: tuple[str, ...] | None = None
    eval_seconds: float = 20.0
    baseline: bool = True
    progress: Callable[[str], None] | None = None
    workers: int = 0  # processes for the independent sub-fits; 0 = one per core, at most 2

    def __post_init__(self):
        # every entry point (a capture, an oracle, a recording pair) is refused here, before
        # any work: the CLI's --rate choices keep other rates out, the API's int does not
        _check_rate(self.rate)
        check_budget(self.budget, self.arch)


@dataclass
class Score:
    esr: float
    esr_pre: float
    lsd_db: float

    def as_dict(self) -> dict:
        return {"esr": self.esr, "esr_pre": self.esr_pre, "lsd_db": self.lsd_db}


def improvement(baseline_esr: float | None, esr: float) -> float:
    """How many times lower ``esr`` is than the naive baseline's (the issue's 5x target); NaN
    without a baseline. ``fit``'s report and ``compare`` both give it."""
    if baseline_esr is None:
        return float("nan")
    return baseline_esr / max(esr, 1e-12)


@dataclass
class FitResult:
    """Everything a fit produced. ``score`` is device-exact (quantised model through the
    bit-exact host engine) vs the oracle on the evaluation DI; ``float_score`` the float model."""

    name: str
    source_path: str
    rate: int
    structure: str
    structure_notes: str
    cycles: float  # firmware cycles/sample of the written pedal (structure.written_cycles)
    budget: float
    arch: str
    model: BlockModel
    pedal_model: object  # pedaltool.pedal.model.PedalModel
    qpedal: object  # pedaltool.pedal.QuantisedPedal
    score: Score
    float_score: Score
    baseline: Score | None
    baseline_float: Score | None
    candidates: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    render_seconds: float = 0.0
    latency: int = 0
    level_scale: float = 1.0
    sane: bool = False
    sanity_message: str = ""
    log: list[str] = field(default_factory=list)
    effort: str = "normal"  # FitConfig.effort
    eval_x: np.ndarray | None = field(default=None, repr=False)  # the scoring input
    eval_y: np.ndarray | None = field(default=None, repr=False)  # the oracle's output on it
    # the written file's device-exact output on eval_x: what ``score`` scored (for --plot)
    eval_device: np.ndarray | None = field(default=None, repr=False)
    # ESR of the device-exact output against the float model on the evaluation DI: the
    # arithmetic contract's measure (target <= 1e-5, docs/arithmetic.md)
    device_vs_float_esr: float = float("nan")
    # the written model's idle floor after a loud input (dBFS, DC included): the arithmetic
    # contract's other measure (target <= IDLE_LIMIT_DBFS, accuracy.contract_idle_dbfs)
    idle_dbfs: float = float("nan")
    # whether the fit judged the capture driven into saturation (core.is_saturating): what
    # chooses the structures tried by default (FitConfig.flavours can override it)
    saturating: bool = False
    # a recorded pair's files as given and its alignment: {"di", "reamp", "lag_samples"}
    # (the correlation's peak; the reamp is moved earlier by at most lag_samples - 8,
    # recording.align); None for a capture
    recording: dict | None = None
    # finalists ranked before the written one and not written: [{"structure", "polished",
    # "why"}] (_first_sane; none when the best-validating one was written)
    passed_over: list = field(default_factory=list)
    # whether the written model's post-EQ was polished (core.polish_post)
    post_eq_polished: bool = False

    @property
    def improvement(self) -> float:
        """Baseline ESR / this model's ESR (device-exact)."""
        return improvement(self.baseline.esr if self.baseline else None, self.score.esr)

    def as_dict(self) -> dict:
        """The fit's JSON report (schema ``JSON_SCHEMA``, docs/fitting.md "The JSON report"):
        ``files`` as given, the .pedal's null until ``batch.report`` writes it; ``notes`` empty
        until the caller adds what was said."""
        from pedaltool import json_report

        rec = self.recording or {}
        return json_report({
            "name": self.name,
            "files": report_files(None if rec else self.source_path, rec.get("di"),
                                  rec.get("reamp")),
            "sample_rate_hz": self.rate,
            "structure": self.structure, "structure_notes": self.structure_notes,
            "post_eq_polished": self.post_eq_polished,
            # floats whatever the option gave (a default budget was an int, --budget a float)
            "cycles_per_sample": self.cycles, "budget": float(self.budget), "arch": self.arch,
            # the engine's kernel calls per block on the fit's arch, and the share of an
            # RP2040 the model takes (kernels, I/O and the estimated dispatch:
            # pedal.cost.rp2040_share_estimate)
            "kernel_calls_per_block": pedal_cost.kernel_calls(self.qpedal.stages, self.arch),
            "rp2040_share_est": pedal_cost.rp2040_share_estimate(self.qpedal),
            "device": self.score.as_dict(), "float": self.float_score.as_dict(),
            "device_vs_float_esr": self.device_vs_float_esr, "idle_dbfs": self.idle_dbfs,
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "baseline_float": self.baseline_float.as_dict() if self.baseline_float else None,
            "improvement_vs_baseline": self.improvement,
            "candidates": self.candidates, "seconds": self.seconds,
            "render_seconds": self.render_seconds, "latency_samples": self.latency,
            "lag_samples": rec.get("lag_samples"),
            "level_scale": self.level_scale, "saturating": self.saturating,
            "source": self.qpedal.source.as_dict(),
            "sane": self.sane, "sanity_message": self.sanity_message, "effort": self.effort,
            "passed_over": self.passed_over,
            "simd": simd_level.describe(),
            "knob_ranges_db": {k: [float(db) for db in v] for k, v in
                               getattr(self.qpedal, "knob_ranges", {}).items()},
            "notes": [],
        })


def report_files(capture=None, di=None, reamp=None, pedal=None) -> dict:
    """A fit report's ``files``: the paths as given (str), null where none."""
    given = {"capture": capture, "di": di, "reamp": reamp, "pedal": pedal}
    return {k: None if v is None else str(v) for k, v in given.items()}


# a capture's output at rest is removed from its renders when at least this loud (dBFS); a
# quieter one is left as it is (why: docs/fitting.md, "A capture's DC offset")
DC_REMOVE_DBFS = -50.0


class Oracle:
    """A render function at the pedal's rate around any ``(x at model rate) -> y`` callable;
    resamples when the rates differ and accounts the time spent rendering.

    ``dc``: subtracted from everything it renders; None: the capture's output at rest
    (measured here on 0.2 s of silence) when it is at least DC_REMOVE_DBFS, else 0. A pedal's
    output is AC-coupled and the block model has no DC path (docs/fitting.md)."""

    def __init__(self, render_native: Callable[[np.ndarray], np.ndarray], native_rate: float,
                 rate: int, name: str = "capture", dc: float | None = 0.0):
        self._render = render_native
        self.name = name
        self.native = int(round(native_rate))
        self.rate = int(rate)
        self.seconds = 0.0
        self.samples = 0
        self.dc = 0.0  # (what _rendered subtracts while the rest is measured below)
        if dc is None:
            from pedaltool.fit.linear import measure_dc

            rest = measure_dc(self._rendered, self.native)
            self.dc = rest if gain_to_db(abs(rest)) >= DC_REMOVE_DBFS else 0.0
        else:
            self.dc = dc

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t0 = time.time()
        x = np.asarray(x, dtype=np.float64)
        if self.native != self.rate:  # not audio.resample: float64 and the exact ratio
            g = np.gcd(self.native, self.rate)
            xn = sps.resample_poly(x, self.native // g, self.rate // g)
            y = sps.resample_poly(self._rendered(xn), self.rate // g, self.native // g)[: len(x)]
            if len(y) < len(x):
                y = np.concatenate([y, np.zeros(len(x) - len(y))])
        else:
            y = self._rendered(x)
        self.seconds += time.time() - t0
        self.samples += len(x)
        return y

    def _rendered(self, x: np.ndarray) -> np.ndarray:
        """The capture's output (float64) on ``x`` at its own rate; FitError if not finite
        (broken weights, or a gain that overflows float32), not numpy's warnings."""
        with np.errstate(over="ignore", invalid="ignore"):
            y = np.asarray(self._render(x.astype(np.float32)), np.float64)
        check_finite_output(y, self.name, "at its calibrated level; its weights or "
                            "input_level_dbu are broken", FitError)
        return y - self.dc

    def dc_note(self) -> str:
        """What was said of the removed DC, or "" when none was removed."""
        if self.dc == 0.0:
            return ""
        return (f"the capture's output rests at {self.dc:+.3g} ({gain_to_db(abs(self.dc)):.0f} "
                "dBFS) with no input; that offset is removed before fitting and scoring (a "
                "pedal's output is AC-coupled)")


def capture_rate_note(native_hz: float, rate: int) -> str | None:
    """The note for a capture at ``native_hz`` rendered there and resampled to the pedal's
    ``rate`` (Hz), as fit and compare say it; None when the rates agree. A warning when the
    capture's band ends below 20 kHz within the pedal's: the model has nothing above it (an
    audit's 8 kHz capture was fitted with only a note)."""
    if int(round(native_hz)) == rate:
        return None
    said = (f"the capture runs at {native_hz:g} Hz; it is rendered there and resampled to the "
            f"pedal's {rate} Hz")
    top = native_hz / 2
    if top < min(20000.0, rate / 2):
        return f"warning: {said}: the model has nothing above {top:g} Hz"
    return f"note: {said}"


def calibration_scale(model, path: str | Path) -> float:
    """The gain taking the project's DI to capture ``model``'s calibration
    (``signals.level_scale_for``); FitError naming ``path`` when its input_level_dbu is
    outside nam.model.CALIBRATION_DBU_RANGE (a broken field would overflow the renders)."""
    dbu = model.metadata.input_level_dbu
    broken = calibration_problem(dbu)
    if broken:
        raise FitError(f"{path}: {broken}")
    return signals.level_scale_for(dbu)


def quiet_output_warning(y: np.ndarray, what: str) -> str | None:
    """The warning for an output ``y`` (``what`` it is, for the message) quieter than
    QUIET_OUTPUT_DBFS RMS, else None."""
    rms = rms_dbfs(y)
    if not rms < QUIET_OUTPUT_DBFS:
        return None
    return (f"warning: {what} is {rms:.0f} dBFS RMS, far under a pedal's output level (real "
            "captures give -34..-12 dBFS on the evaluation DI): the pedal will play that "
            "quietly, and its 16-bit samples carry it coarsely")


def hot_input_note(x: np.ndarray, what: str) -> str | None:
    """The note for an input ``x`` (``what`` it is) that peaks above full scale, else None:
    the pedal's converter clips it (each caller says what follows from that, e.g.
    SCORED_CLIPPING)."""
    peak = peak_dbfs(x)
    if not peak > 0.0:
        return None
    return f"{what} peaks at {peak:+.1f} dBFS: the pedal's converter clips it to full scale"


SCORED_CLIPPING = " and the capture does not, so the scores include that clipping"


# a DI peaking under this (dBFS) is far under a guitar's (the evaluation DI, examples/eval_di.wav,
# peaks at -7) and the pedal's 16-bit input carries it coarsely: the TS9's fit
# scored 0.0026 on the evaluation DI, 0.42 on it at -60 dBFS peak, 0.89 at -70 (an audit)
QUIET_INPUT_PEAK_DBFS = -40.0


def quiet_input_note(x: np.ndarray, what: str) -> str | None:
    """The note for an input ``x`` (``what`` it is) peaking under QUIET_INPUT_PEAK_DBFS, else
    None: the pedal's 16-bit input keeps few bits of it, so its scores are of that. None for
    a silent one too: that is refused, not warned about."""
    peak = peak_dbfs(x)
    if not peak < QUIET_INPUT_PEAK_DBFS or silent(x):
        return None
    bits = max(0, int(np.floor(16 + peak / 6.02)))
    return (f"{what} peaks at {peak:.0f} dBFS, far under a guitar's: the pedal's 16-bit input "
            f"keeps about {bits} bits of it, so the scores are mostly of that rounding")


def _check_rate(rate: int, where: str = "") -> None:
    """FitError unless the fitter works at ``rate`` (Hz); ``where`` starts the message."""
    if int(rate) not in SUPPORTED_RATES:
        raise FitError(f"{where}unsupported rate {rate} Hz (the fitter works at "
                       f"{', '.join(str(r) for r in SUPPORTED_RATES)} Hz)")


# far beyond any board's cycles per sample (an ESP32-S3 at 240 MHz and 32 kHz has 7500): a
# larger number is a typo, and would be printed as such in every report
MAX_BUDGET = 1e6


def check_budget(budget: float, arch: str = S.DEFAULT_ARCH) -> None:
    """FitError unless ``budget`` (cycles/sample on ``arch``) is a number the naive baseline,
    the cheapest model the fitter writes, fits in: refused before any work, not after the
    probe. A budget below the smallest grown structure's cost fits the baseline alone
    (``structures_for``)."""
    least = min(S.baseline_cycles(arch), S.smallest_cycles(arch))
    if not math.isfinite(budget) or budget <= 0 or budget > MAX_BUDGET:
        raise FitError(f"a budget of {budget:.10g} cycles/sample is not a CPU budget: give a "
                       f"number from {least:.0f} (the naive baseline on {arch}) to "
                       f"{MAX_BUDGET:.0f}; the default is {S.DEFAULT_BUDGET}")
    if budget < least:
        raise FitError(f"no model fits a budget of {budget:.10g} cycles/sample: the cheapest, "
                       f"the naive baseline, needs {least:.0f} on {arch} (the smallest grown "
                       f"structure {S.smallest_cycles(arch):.0f}; the default is "
                       f"{S.DEFAULT_BUDGET})")


def _score(y_hat: np.ndarray, target: metrics.Target) -> Score:
    m = target.metrics(y_hat)
    return Score(m["esr"], m["esr_pre"], m["lsd_db"])


EFFORTS = ("quick", "normal", "thorough")


# long-fit iterations of a saturating capture at the default effort (a mild one gets 12, on
# each of its three datasets; a saturating capture long-fits one, so it has the time). The
# Splawn over five draws (2026-12-05, docs/fitting-log.md): ESR 0.117 on average with 12
# iterations, never within its 0.1; 0.103 with 16 (3 of 5 within); 0.100 with 20 (4 of 5).
# The naive baseline gets them too, and on the HM-2 it gains more than the model: 5x met in
# 5 of 5 draws with 12, 3 of 5 with 20. 10-11 s a saturating fit instead of 7-8 (Xeon).
SATURATING_LONG_ITERATIONS = 20


def _nfev(cfg: FitConfig, pr: core.Probe) -> tuple[int, int]:
    """(quick-fit, long-fit) iterations of an effort, for the capture probed as ``pr``."""
    if cfg.effort not in EFFORTS:
        raise FitError(f"unknown effort {cfg.effort!r} (one of {', '.join(EFFORTS)})")
    if cfg.effort == "normal" and core.is_saturating(pr):
        return 6, SATURATING_LONG_ITERATIONS
    return {"quick": (4, 10), "normal": (6, 12), "thorough": (6, 24)}[cfg.effort]


# fitting datasets of the thorough effort (core.PLAY_SEEDS: 2 s of playing each). The
# result depends on which 2 s of playing it was fitted to about as much as on the structure:
# default-effort device ESR on the evaluation DI over five playing seeds (2026-12-04), Klon
# 0.012-0.045, TS9 0.0031-0.012, OD808 0.0039-0.013, JCM2000 clean 0.0021-0.0044, and the
# validation ESR ranks them as the evaluation DI does. Fitting on 6 s of three phrases at
# once did not help (Klon 0.016 / 0.025, TS9 0.0047 / 0.0055: the 12 iterations go less far)
THOROUGH_DATASETS = 3
# the default effort on a mild capture: three datasets, the best quick fit of each long-fitted
# (three long fits of a one-table structure take about as long as two of a saturating one).
# Default-effort device ESR, one dataset -> three (2026-12-04): Klon 0.0173 -> 0.0102, TS9
# 0.0040 -> 0.0035, OD808 0.0060 -> 0.0043, JCM2000 clean 0.0035 -> 0.0032; 21-26 s per fit.
# A saturating capture keeps one dataset and long-fits both flavours: two datasets with the
# best quick flavour of each lost there (Bugera 0.144 -> 0.164, 5150 0.253 -> 0.282)
MILD_DATASETS = 3


# seconds of playing in each fitting dataset (then the fitter's noise and sweeps, 1 s). The
# saturating captures gain from more, but their long fits take twice as long with 4 s: at
# the default effort that would cost the 30 s fit-time target (Bugera 27.5 s on the fit's own
# clock); the thorough effort has no time target. Device ESR, thorough effort, 2 s -> 4 s
# (2026-12-04): Bugera 0.129 -> 0.123, AC15 0.244 -> 0.211, A1 0.717 -> 0.575; 94-125 s ->
# 180-208 s per fit. At the default effort 4 s gave Bugera 0.144 -> 0.122, AC15 0.288 ->
# 0.258, A1 0.711 -> 0.620, the others unchanged within noise (docs/fitting-log.md)
PLAYING_S = 2.0
THOROUGH_SATURATING_PLAYING_S = 4.0


def playing_seconds_for(cfg: FitConfig, pr: core.Probe | None) -> float | None:
    """Seconds of playing in each fitting dataset of a fit; None when that depends on the
    probe and ``pr`` is None (not probed yet)."""
    if cfg.effort == "thorough":
        if pr is None:
            return None
        if core.is_saturating(pr):
            return THOROUGH_SATURATING_PLAYING_S
    return PLAYING_S


def datasets_for(cfg: FitConfig, pr: core.Probe) -> int:
    """How many fitting datasets (``playing_seconds_for`` of playing each,
    ``core.PLAY_SEEDS``) a fit uses."""
    if cfg.effort == "thorough":
        return THOROUGH_DATASETS
    if cfg.effort == "normal" and not core.is_saturating(pr):
        return MILD_DATASETS
    return 1


def structures_for(cfg: FitConfig, pr: core.Probe, name: str,
                   say: Callable[[str], None]) -> list:
    """The structures a fit tries: ``cfg.flavours`` or the capture's (core.flavours_for),
    grown to the budget. A saturating capture's, with two tables, need more cycles than the
    one-table ones: at a budget below them those are tried instead. None (a note says so)
    when the budget fits only the naive baseline, which every fit fits and may write;
    FitError naming ``name`` when not even that fits (check_budget refuses that first)."""
    flavours = cfg.flavours or core.flavours_for(pr, cfg.effort == "thorough")
    structs = S.within_budget(cfg.budget, cfg.arch, flavours)
    if structs:  # (said once chosen: not a list that a note then takes back, a review)
        say(f"structures tried: {', '.join(flavours)}")
        return structs
    smallest = S.smallest_cycles(cfg.arch, flavours)
    if cfg.flavours is None and flavours != S.FLAVOURS:
        structs = S.within_budget(cfg.budget, cfg.arch, S.FLAVOURS)
        if structs:  # (notes: said again under the result table, kept in the report)
            say(f"note: the structures for a saturating capture need {smallest:.0f} "
                f"cycles/sample or more, over the budget of {cfg.budget:g}: the one-table "
                f"ones ({', '.join(S.FLAVOURS)}) are tried instead")
            say(f"structures tried: {', '.join(S.FLAVOURS)}")
            return structs
        smallest = S.smallest_cycles(cfg.arch, S.FLAVOURS)
    base = S.baseline_cycles(cfg.arch)
    if base > cfg.budget:
        raise FitError(f"{name}: no model fits a budget of {cfg.budget:g} cycles/sample on "
                       f"{cfg.arch} (the naive baseline needs {base:.0f}, the smallest "
                       f"structure {smallest:.0f})")
    say(f"note: a budget of {cfg.budget:g} cycles/sample on {cfg.arch} fits only the naive "
        f"baseline ({base:.0f}; the smallest structure needs {smallest:.0f}): it alone is "
        "fitted, and written if it passes the checks")
    return []


def fit_workers(cfg: FitConfig) -> int:
    """Processes a fit uses: ``cfg.workers``, or (0) one per core, at most 2 (the fit has at
    most two long refinements to run side by side)."""
    if cfg.workers:
        return max(1, int(cfg.workers))
    return max(1, min(2, os.cpu_count() or 1))


def _quick_task(st, pr, ds, nfev, dataset: int = 0, eqs: dict | None = None) -> core.Candidate:
    core.prime_initial_eqs(eqs or {})
    c = core.quick_fit(st, pr, ds, nfev=nfev)
    c.dataset = dataset
    return c


def _final_task(c, pr, ds, nfev) -> core.Candidate:
    return core.final_fit(c, pr, ds, nfev=nfev)


def _promote_task(c, st_env, pr, ds, nfev) -> core.Candidate | None:
    """Long fit of a finalist's model with envelopes released (``st_env`` =
    ``S.with_envelope(c.structure)``: c's model has envelope depth 0 everywhere, which
    final_fit starts at core.ENV_START); None unless it validates better than ``c``."""
    p = core.final_fit(core.Candidate(st_env, c.model, c.val_esr, c.val_esr_pre, c.seconds,
                                      list(c.log), c.dataset), pr, ds, nfev=nfev)
    if not any(stage.env_depth for stage in p.model.stages):  # it kept c's model
        return None
    return p


# what forked workers inherit instead of receiving it pickled: "render", the oracle (a NAM
# model); "say", a recorded pair's progress callback (recording.pair_fits)
_FORKED: dict = {}


@contextmanager
def _oracle_for_workers(render, workers: int):
    """Make ``render`` what the task graph's forked workers inherit (``_FORKED``), with the
    fits' kernels loaded before they fork, for the duration of the ``with`` block."""
    _FORKED["render"] = render
    if workers > 1:
        _load_kernels()
    try:
        yield
    finally:
        _FORKED.clear()


def _load_kernels() -> None:
    """Load the fits' numba kernels (from numba's on-disk cache) in this process before the
    workers are forked: they inherit them loaded, where each loaded them itself during its
    first fit (0.3-0.6 s per process, numba's first dispatch included). Each call has the
    argument types of the fits' own calls, so the specialisations loaded are theirs."""
    from pedaltool.fit.colfilter import sosfilt_bank, sosfilt_rows
    from pedaltool.fit.keptrows import kept_rows_into
    from pedaltool.fit.table import hat_basis_reached
    from pedaltool.nam._tanh import tanh_inplace

    one = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    sosfilt_bank(one, np.zeros((4, 2)))  # one cascade for every signal
    sosfilt_rows(np.repeat(one[:, :, None], 2, axis=2), np.zeros((2, 4)))  # one each
    kept_rows_into(np.zeros((4, 2)), np.zeros((4, 2)), None, np.ones(2), 2, 1.0, 1.0)
    hat_basis_reached(np.zeros(4), 5)
    tanh_inplace(np.zeros(2, np.float32))  # the renders' activation


def _rendered(fn):
    """(fn(render), seconds spent rendering) with the inherited oracle. The oracle's own
    clock is put back, so the caller adds the seconds once whether the task ran in a worker
    or in this process."""
    render = _FORKED["render"]
    t0 = render.seconds
    out = fn(render)
    secs = render.seconds - t0
    render.seconds = t0
    return out, secs


def _data_task(rate, level, seed, own_validation: bool, play_s: float = PLAYING_S):
    """A fitting dataset; only the first renders the held-out validation the others share."""
    return _rendered(lambda r: core.make_dataset(
        r, rate, level, play_s=play_s, play_seed=seed,
        validation=None if own_validation else core.NO_VALIDATION))


def _eq_task(st: S.Structure, pr: core.Probe) -> dict:
    """The initial EQ fits of ``st``'s quick fits (``core.initial_eqs``): one task per set of
    EQ kinds, so that the quick fits of a structure wait only for their own (the naive
    baseline's single biquads are fitted in its own task)."""
    return core.initial_eqs(st, pr, core.restarts_for(pr))


def _eval_task(rate, seconds, level):
    """The evaluation DI at the capture's level and the oracle's output on it."""
    x = signals.evaluation_di(rate, seconds).astype(np.float64) * level
    return _rendered(lambda r: (x, r(x)))


def _baseline_score_task(bases: list, eval_x, eval_y, name: str) -> tuple[Score, Score]:
    """(device-exact, float) scores of the best-validating naive baseline on the evaluation
    pair: run in the graph so that it overlaps the last long fits, not after them."""
    model = min(bases, key=_rank).model
    target = metrics.Target(eval_y)
    return (baseline_device_score(model, eval_x, target, name),
            _score(core.simulate(model, eval_x), target))


def baseline_device_score(model: BlockModel, x: np.ndarray, target: metrics.Target,
                          name: str) -> Score:
    """The naive baseline's device-exact score: quantised without knobs, run through the
    bit-exact host engine on ``x``, against ``target``."""
    from pedaltool.pedal import quantise, simulate_device_float

    bpm = to_pedal_model(model, name=name + " baseline", knobs=False)
    try:
        qp = quantise(bpm)
    except FitError as exc:  # its gains out of any sane range: the capture's level is wild
        raise FitError(f"{name}: cannot quantise even the naive baseline ({exc})") from None
    return _score(simulate_device_float(qp, x), target)


# run_graph priorities: the fitting datasets and initial EQs first (every fit waits for
# them); a long fit starts as soon as its quick fits are done (the longest tasks, they decide
# the fit time), quick fits next; the evaluation render and the naive baseline fill the gaps
# (only the baseline's scoring waits for them)
DATA, LONG, QUICK, BESIDE = -1, 0, 1, 2
# long fits retried with an envelope-driven bias into each table (structure.with_envelope),
# kept when they validate better; side by side on two cores, so two cost the time of one.
# At the default budget only the one-table structures have room for it (the saturating
# captures' wh2+cab does not). Default effort, device ESR on the evaluation DI without -> with
# (2026-12-04): Klon 0.0102 -> 0.0096 (wh+env), OD808 0.0043 -> 0.0034, TS9 0.0035 -> 0.0028
# (wh+mix+env), JCM2000 clean 0.0032 (wh kept); 2-3 s more per fit
PROMOTE = 2


def _rank(c: core.Candidate) -> tuple:
    """Best validation first; exact ties broken by dataset and structure, never by the order
    tasks ended in."""
    return c.crit, c.dataset, c.structure.name


def with_polished(finals: list, base: core.Candidate,
                  dataset_of: Callable[[core.Candidate], core.Dataset],
                  say: Callable[[str], None], pool: Workers | None = None) -> list:
    """``finals`` and, for each one but the naive structure (the baseline's shape, left as
    fitted), its post-EQ polished (``core.polish_post`` on its own fitting dataset,
    ``dataset_of(c)``) when that validates better, ranked (``_rank``) so that it goes before
    its source and ranked_finalists' rules see it; the source stays in, for when the polished
    one is refused (an idle above the contract's floor passes the written model down the
    list: the Bugera's polished first finalist idled at -87 dBFS in one draw). The best
    polished one is then polished further (core.POLISH_MORE_ITERATIONS) and replaced by
    that when it validates better: the long polish where it is likeliest to be written.
    ``pool``: the fit's workers, which polish the finalists side by side (``run_graph``: one
    BLAS thread each, as in one process: the same models either way); None: here."""
    todo = [c for c in finals if c is not base]
    for c in todo:
        say(f"{c.structure.name}: polishing the post-EQ")
    done = run_graph([Task(i, core.polish_post, (c, dataset_of(c))) for i, c in enumerate(todo)],
                     1, say, pool=pool)
    polished = [done[i] for i in range(len(todo)) if done[i] is not None]
    if polished:
        i = min(range(len(polished)), key=lambda i: _rank(polished[i]))
        say(f"{polished[i].structure.name}: polishing the post-EQ further")
        more = one_blas_thread(core.polish_post, (polished[i], dataset_of(polished[i]),
                                                  core.POLISH_MORE_ITERATIONS))
        if more is not None:
            say(more.log[-1])
            polished[i] = more
    return sorted(finals + polished, key=_rank)


def candidate_rows(quick: list, finals: list, base: core.Candidate, arch: str,
                   chosen: Chosen, seeded: bool = True) -> list[dict]:
    """The report's "candidates": every quick fit, every long fit ("final"; "polished" for a
    long fit's post-EQ polished, ``with_polished``) and the naive baseline, with cost
    (cycles/sample on ``arch``), validation ESR and whether it is the one ``chosen`` to be
    written (``written``: it passed the sanity check); ``seeded``: with the fitting playing's
    seed (a capture's datasets; a recorded pair has one dataset of its own)."""
    def row(c, stage: str, seed: bool) -> dict:
        r = {"structure": c.structure.name, "cycles": S.cost_cycles(c.structure, arch),
             "stage": ("grown " if c.grown else "") + stage}
        if seed:
            r["play_seed"] = core.PLAY_SEEDS[c.dataset]
        return {**r, "val_esr": c.val_esr, "val_esr_pre": c.val_esr_pre,
                "written": chosen.sane and c is chosen.best}

    bst = S.baseline_structure()
    return ([row(c, "quick", seeded) for c in quick]
            + [row(c, "polished" if c.polished else "final", seeded) for c in finals]
            + [{"structure": bst.name, "cycles": S.cost_cycles(bst, arch), "stage": "final",
                "val_esr": base.val_esr, "val_esr_pre": base.val_esr_pre,
                "written": chosen.sane and base is chosen.best}])


# the naive structure goes first by the criterion only against models whose raw validation
# ESR is at least 1/NAIVE_RAW_MARGIN of its own: a 16-bit JCM2000 clean pair's models
# validated at 0.023 / pre 0.32 (the float pair's: 0.011 / 0.13) against its 0.092 / 0.14,
# and scored 0.0009 / pre 0.0029 against the capture where the naive structure written
# scored 0.136 / 0.20 (docs/fitting-log.md)
NAIVE_RAW_MARGIN = 2.0


def ranked_finalists(finals: list, base: core.Candidate, cfg: FitConfig) -> list:
    """The finalists in the order they are tried for writing: the long-fitted ``finals`` and
    the naive ``base`` when its structure fits ``cfg.budget``, by ``_rank``, except that the
    validation ESR without pre-emphasis (the issue's measure; weighted by the playing's level
    on a capture that is not saturating, ``core.validation_score``) overrules the criterion
    when they disagree clearly. The criterion weighs the pre-emphasised ESR as much as the
    raw one, so
    - a model whose raw ESR is above the naive baseline's goes after the baseline (the
      example diode clipper with 20 long-fit iterations: validation 0.0189 / pre 0.0282
      against the baseline's 0.0088 / 0.0410, evaluation ESR 0.0199 against 0.0104);
    - the baseline goes after every model whose raw ESR is NAIVE_RAW_MARGIN times lower."""
    order = sorted(finals, key=_rank)
    if S.cost_cycles(base.structure, cfg.arch) > cfg.budget:
        return order
    clear = [i for i, c in enumerate(order) if c.val_esr * NAIVE_RAW_MARGIN <= base.val_esr]
    at = max(sum(_rank(c) < _rank(base) for c in order), clear[-1] + 1 if clear else 0)
    order.insert(at, base)
    beaten = [c is not base and c.val_esr > base.val_esr for c in order]
    return ([c for c, b in zip(order, beaten, strict=True) if not b]
            + [c for c, b in zip(order, beaten, strict=True) if b])


def _dataset_task(k: int, rate: int, level: float, play_s: float) -> Task:
    """Render fitting dataset ``k`` (playing seed ``core.PLAY_SEEDS[k]``); only the first
    renders the held-out validation that the others share."""
    return Task(("data", k), _data_task, (rate, level, core.PLAY_SEEDS[k], k == 0, play_s), DATA)


def _evaluation_task(cfg: FitConfig, rate: int, level: float) -> Task:
    return Task("eval", _eval_task, (rate, cfg.eval_seconds, level), BESIDE)


def unplanned_tasks(cfg: FitConfig, rate: int, level: float, evaluation: bool) -> list[Task]:
    """The tasks of a fit's graph that do not depend on the probe, started beside it: the
    evaluation render (unless ``evaluation``: the pair is given), and the first fitting
    dataset unless its length depends on the probe (``playing_seconds_for``). Each is the
    task ``_FitGraph.initial`` would start."""
    play_s = playing_seconds_for(cfg, None)
    tasks = [] if play_s is None else [_dataset_task(0, rate, level, play_s)]
    if not evaluation:
        tasks.append(_evaluation_task(cfg, rate, level))
    return tasks


class _FitGraph:
    """The follow-up rule of a fit's task graph (``schedule.run_graph``): when a fitting
    dataset and the first one (whose validation they all share) are there, the dataset's
    naive baseline, and the quick fit of each structure whose initial EQ is fitted; when
    every quick fit of a dataset is done, the long fits of the best of them (:meth:`chosen`);
    when every long fit is done, envelope promotions of the PROMOTE best (not with the quick
    effort); when every baseline and the evaluation pair are there, the baseline's scores."""

    def __init__(self, cfg: FitConfig, pr: core.Probe, n_datasets: int, structs: list,
                 workers: int, nfev: tuple[int, int], name: str, say: Callable[[str], None],
                 evaluation: tuple | None = None):
        self.cfg, self.pr, self.n_datasets, self.structs = cfg, pr, n_datasets, structs
        self.workers, (self.q_nfev, self.f_nfev), self.name = workers, nfev, name
        self.say = say
        self.evaluation = evaluation  # (eval_x, eval_y) once known
        self.rendered: dict[int, core.Dataset] = {}  # before the validation is attached
        # one initial-EQ task per set of EQ kinds: struct i's is eq_of[i] (the first struct
        # with its kinds); eqs[e] = core.initial_eqs entries once fitted
        kinds = [core.initial_eq_kinds(st) for st in structs]
        self.eq_of = [kinds.index(k) for k in kinds]
        self.eqs: dict[int, dict] = {}
        self.started: set = set()  # keys of the quick fits and baselines started
        self.datasets: dict[int, core.Dataset] = {}
        self.render_seconds = 0.0  # spent in the tasks
        self.quick: dict[int, list] = {}
        self.finals: list = []
        self.bases: list = []
        self.expected = 0  # long fits started

    def initial(self, rate: int, level: float) -> list[Task]:
        """The renders and the initial EQ fits the graph starts with."""
        play_s = playing_seconds_for(self.cfg, self.pr)
        tasks = [_dataset_task(0, rate, level, play_s)]
        tasks += [Task(("eq", e), _eq_task, (self.structs[e], self.pr), DATA)
                  for e in sorted(set(self.eq_of))]
        tasks += [_dataset_task(k, rate, level, play_s) for k in range(1, self.n_datasets)]
        if self.evaluation is None:
            tasks.append(_evaluation_task(self.cfg, rate, level))
        return tasks

    def chosen(self, group: list) -> list:
        """Which quick fits of one dataset (best validation first) get a long fit."""
        if self.cfg.effort == "thorough":
            return list(group)
        if self.n_datasets > 1:
            return group[:1]
        # the runner-up gets a long fit too when it is close (the ranking after the short
        # restarts is noisy), or always when a second process is free to run it side by side
        if len(group) > 1 and self.cfg.effort == "normal" and (
                self.workers > 1 or group[1].crit <= RUNNER_UP_MARGIN * group[0].crit):
            return group[:2]
        return group[:1]

    def __call__(self, key, result) -> list[Task]:
        kind = key if isinstance(key, str) else key[0]
        if kind == "data":
            ds, secs = result
            self.render_seconds += secs
            self.rendered[key[1]] = ds
            # counted as they end, not by index: "2 of 3, 3 of 3, 1 of 3" read as going back
            done = len(self.rendered) + len(self.datasets)
            self.say(f"rendered fitting playing {done} of {self.n_datasets} (seed "
                     f"{core.PLAY_SEEDS[key[1]]})")
            return self._fits()
        if kind == "eq":
            self.eqs[key[1]] = result
            return self._fits()
        if kind == "eval":
            (eval_x, eval_y), secs = result
            self.render_seconds += secs
            self.evaluation = eval_x, eval_y
            self.say("rendered the evaluation DI")
            return self._baseline_score()
        if kind == "base":
            self.bases.append(result)
            return self._baseline_score()
        if kind == "quick":
            return self._long_fits(key[1], result)
        if kind == "final" and self.cfg.effort != "quick":
            self.finals.append(result)
            return self._promotions()
        return []

    def _fits(self) -> list[Task]:
        """The quick fits and baselines whose inputs are there and that have not started: a
        baseline needs its dataset, a quick fit its dataset and its structure's initial EQ;
        every dataset also needs the first one, whose validation they share."""
        if 0 not in self.rendered and 0 not in self.datasets:
            return []
        for j in sorted(self.rendered):  # the first dataset first: the others share its
            d = self.rendered.pop(j)    # validation
            self.datasets[j] = core.with_level_balance(
                d if j == 0 else core.share_validation(d, self.datasets[0]), self.pr)
        tasks = []
        for j, d in sorted(self.datasets.items()):
            if ("base", j) not in self.started:
                tasks.append(Task(("base", j), core.fit_baseline,
                                  (self.pr, d, self.q_nfev, self.f_nfev, j), BESIDE))
            for i, st in enumerate(self.structs):
                e = self.eq_of[i]
                if e in self.eqs and ("quick", j, i) not in self.started:
                    tasks.append(Task(("quick", j, i), _quick_task,
                                      (st, self.pr, d, self.q_nfev, j, self.eqs[e]), QUICK))
        self.started.update(t.key for t in tasks)
        return tasks

    def _baseline_score(self) -> list[Task]:
        if (not self.cfg.baseline or self.evaluation is None
                or len(self.bases) < self.n_datasets):
            return []
        return [Task("base score", _baseline_score_task,
                     (self.bases, *self.evaluation, self.name), BESIDE)]

    def _long_fits(self, k: int, result) -> list[Task]:
        group = self.quick.setdefault(k, [])
        group.append(result)
        if len(group) < len(self.structs):
            return []
        group.sort(key=_rank)  # not the order they ended in
        todo = self.chosen(group)
        self.expected += len(todo)
        return [Task(("final", k, c.structure.name), _final_task,
                     (c, self.pr, self.datasets[k], self.f_nfev), LONG) for c in todo]

    def _promotions(self) -> list[Task]:
        quick_done = sum(len(g) == len(self.structs) for g in self.quick.values())
        if quick_done < self.n_datasets or len(self.finals) < self.expected:
            return []
        # the best again, with envelopes (sag, touch) where the budget allows
        best = sorted(self.finals, key=_rank)[:PROMOTE]
        tasks = []
        for c in best:
            st = S.with_envelope(c.structure, self.cfg.budget, self.cfg.arch)
            if st:
                of = (f" (fitting playing {c.dataset + 1} of {self.n_datasets})"
                      if self.n_datasets > 1 else "")
                self.say(f"trying {st.name} from the fitted {c.structure.name}{of}")
                tasks.append(Task(("promo", c.dataset, st.name), _promote_task,
                                  (c, st, self.pr, self.datasets[c.dataset], self.f_nfev),
                                  LONG))
        return tasks


def _plan(render: Oracle, cfg: FitConfig, name: str, level: float,
          say: Callable[[str], None]) -> tuple[core.Probe, int, list]:
    """Probe the oracle and choose what to fit: (probe, fitting datasets, structures)."""
    say("probing (DC, latency, best linear approximations)")
    pr = core.probe(render, cfg.rate, level, name)
    core.check_fittable(pr, name)
    say(f"latency {pr.latency} samples, gain compression {core.compression_db(pr):.1f} dB")
    n_data = datasets_for(cfg, pr)
    structs = structures_for(cfg, pr, name, say)
    for st in structs:
        # "up to": the written file runs its quiet sections cheaper (the table's cost)
        say(f"trying {st.name} (up to {S.cost_cycles(st, cfg.arch):.0f} cycles/sample)")
    # the fitting playing: more than one dataset gives the fits more playing to start from,
    # with one validation to rank them
    seeds = core.PLAY_SEEDS[:n_data]
    say(f"rendering fitting playing ({n_data} x {playing_seconds_for(cfg, pr):g} s, "
        f"seed{'s' if n_data > 1 else ''} {', '.join(str(s) for s in seeds)})")
    # the naive baseline is always fitted: it is scored next to the result and it is a
    # candidate itself, on the same validation criterion, so the fitter never returns a
    # model worse than the baseline it is compared with
    say("fitting the naive baseline (biquad + tanh + biquad)")
    return pr, n_data, structs


def fit_oracle(render: Oracle, name: str, cfg: FitConfig, source=None, level: float = 1.0,
               eval_x: np.ndarray | None = None, eval_y: np.ndarray | None = None,
               source_path: str = "") -> FitResult:
    """Fit a block model to any oracle (a NAM capture, or a recording-derived model).

    eval_x/eval_y: the scoring pair (evaluation DI and the oracle's output on it); rendered
    here from ``pedaltool.signals.evaluation_di`` at ``level`` when not given."""

    t0 = time.time()
    say = cfg.progress or (lambda s: None)
    rate = cfg.rate
    workers = fit_workers(cfg)
    evaluation = None if eval_x is None else (eval_x, eval_y)
    # the workers stay for the serial tail: a worker quantises beside it (_quantised)
    with _oracle_for_workers(render, workers), Workers(workers) as pool:
        # the renders that do not depend on the probe run beside it
        early = unplanned_tasks(cfg, rate, level, evaluation is not None)
        pool.start(early)
        if evaluation is None:  # the scoring pair, rendered beside the fits
            say("rendering the evaluation DI through the capture")
        # refusals name the capture as given, as every other error does (an audit's
        # all-zero capture read "zeros: the capture's output is silent")
        pr, n_data, structs = _plan(render, cfg, source_path or name, level, say)
        graph = _FitGraph(cfg, pr, n_data, structs, workers, _nfev(cfg, pr), name, say,
                          evaluation)
        started = {t.key for t in early}
        done = run_graph([t for t in graph.initial(rate, level) if t.key not in started],
                         workers, say, graph, pool)
        render.seconds += graph.render_seconds
        eval_x, eval_y = graph.evaluation
        quiet = quiet_output_warning(eval_y, "the capture's output on the evaluation DI")
        if quiet:
            say(quiet)
        dbu = signals.REFERENCE_INTERFACE_DBU - gain_to_db(level)
        hot = hot_input_note(eval_x, f"the evaluation DI at the capture's calibration "
                                     f"({dbu:.3g} dBu at 0 dBFS)")
        if hot:  # real interfaces read +4..+24 dBu at 0 dBFS: the calibration is suspect
            say(f"warning: {hot}{SCORED_CLIPPING}; is the capture's input_level_dbu right?")
        # ranked by _rank: the same lists whatever order the tasks ended in
        base = min((c for k, c in done.items() if k[0] == "base"), key=_rank)
        quick = sorted((c for k, c in done.items() if k[0] == "quick"), key=_rank)
        finals = sorted((c for k, c in done.items()
                         if k[0] in ("final", "promo") and c is not None), key=_rank)
        finals = with_polished(finals, base, lambda c: graph.datasets[c.dataset], say, pool)
        # finalists: every long-fitted candidate, the naive structure included, best validation
        # first but never a model the naive one beats on raw ESR (ranked_finalists); the first
        # whose quantised model passes the sanity check is written. A better
        # model that fails (e.g. a broad low-Q peak whose pole at 0.99998 the integer engine does
        # not let decay) is reported in the log and the next one is used, so a fit that has a
        # sane candidate always writes one
        finalists = ranked_finalists(finals, base, cfg)
        if finalists[0] is base and finals:  # (none: the budget fits the baseline alone)
            best = finals[0]
            say(f"the naive structure goes first: validation ESR {base.val_esr:.4f} / pre "
                f"{base.val_esr_pre:.4f} against the best model's {best.val_esr:.4f} / pre "
                f"{best.val_esr_pre:.4f}")

        # score: device-exact on the evaluation DI
        say("quantising and scoring device-exact")
        # the scoring is the fit's serial tail: the evaluation target's spectra, and then the two
        # scores, are computed in a thread beside the rest (numpy and scipy.fft let go of the GIL)
        target = metrics.Target(eval_y)
        with ThreadPoolExecutor(max_workers=1) as beside:
            spectra = beside.submit(target.prepare)
            chosen, grown_quick, grown = choose_written(
                finals, base, cfg, pr, lambda c: graph.datasets[c.dataset],
                (graph.q_nfev, graph.f_nfev), name, source, say, pool)
            cands = candidate_rows(quick + grown_quick, finals + grown, base, cfg.arch, chosen)
            spectra.result()
            score, fscore, dev_vs_float, cycles, dev = score_written(
                chosen, eval_x, target, cfg.arch, beside, cfg.effort)
        bscore, bfloat = done["base score"] if cfg.baseline else (None, None)
        res = FitResult(
            **chosen.result_fields(), rate=rate, cycles=cycles, budget=cfg.budget,
            arch=cfg.arch, name=name, source_path=source_path, score=score, float_score=fscore,
            baseline=bscore, baseline_float=bfloat, candidates=cands, seconds=time.time() - t0,
            render_seconds=render.seconds, latency=pr.latency, level_scale=level,
            effort=cfg.effort, eval_x=eval_x, eval_y=eval_y, eval_device=dev,
            device_vs_float_esr=dev_vs_float, saturating=core.is_saturating(pr))
        say(f"done: {res.structure}, device ESR {score.esr:.4f} (pre {score.esr_pre:.4f})")
        return res


def score_written(chosen: Chosen, x: np.ndarray, target: metrics.Target, arch: str,
                  beside: ThreadPoolExecutor | None = None, effort: str = ""
                  ) -> tuple[Score, Score, float, float, np.ndarray]:
    """(device-exact score, float-model score, device-vs-float ESR, cycles/sample of the
    file, the device-exact output it scored) of the model a fit writes on ``x`` against
    ``target``, stamped into its PedalModel's and QuantisedPedal's ``accuracy`` (with the
    fit's ``effort``). ``beside``: a thread to score the float model in (the same numbers;
    numpy lets go of the GIL)."""
    from pedaltool.pedal import simulate_device_float

    pm, qp = chosen.pedal_model, chosen.qpedal
    dev, flt = simulate_device_float(qp, x), core.simulate(chosen.best.model, x)
    float_scored = beside.submit(_score, flt, target) if beside else None
    score = _score(dev, target)
    fscore = float_scored.result() if float_scored else _score(flt, target)
    cycles = S.written_cycles(qp, arch)  # the file, not its budgeted structure
    pm.accuracy.esr, pm.accuracy.esr_pre, pm.accuracy.cycles = score.esr, score.esr_pre, cycles
    pm.accuracy.effort = effort
    qp.accuracy = pm.accuracy
    return score, fscore, metrics.esr(dev, flt), cycles, dev


@dataclass
class Chosen:
    """The finalist a fit writes (``_first_sane``) and its quantised model."""

    best: core.Candidate
    pedal_model: object  # pedaltool.pedal.model.PedalModel
    qpedal: object  # pedaltool.pedal.QuantisedPedal
    sane: bool  # passes the sanity check: the file may be written
    why: str  # why it fails the sanity check ("" when it passes)
    # the finalists ranked before it and not written, each {"structure", "polished", "why"}
    # (FitResult.passed_over: the result table says why the naive structure was not written
    # where its raw ESR is the lower, an audit)
    passed_over: list
    idle_dbfs: float  # its contract idle floor (contract_idle_dbfs; FitResult.idle_dbfs)
    knob_ranges: tuple = KNOB_RANGES[0]  # (drive, level) ranges in dB its model was made with

    def result_fields(self) -> dict:
        """The FitResult fields that come from the finalist written."""
        b = self.best
        return {"structure": b.structure.name, "structure_notes": b.notes,
                "post_eq_polished": b.polished, "model": b.model, "log": b.log,
                "pedal_model": self.pedal_model, "qpedal": self.qpedal, "sane": self.sane,
                "sanity_message": self.why, "passed_over": self.passed_over,
                "idle_dbfs": self.idle_dbfs}


def _first_sane(finalists: list, name: str, source, say: Callable[[str], None],
                pool: Workers | None = None, checked: dict | None = None,
                budget: float | None = None, arch: str = S.DEFAULT_ARCH,
                grown_ranges: tuple | None = None) -> Chosen:
    """The first finalist whose quantised model passes the sanity check, with the widest knob
    ranges that pass; when none passes, the first that can be quantised (not to be written).
    ``pool``: see _quantised. ``checked``: what earlier calls found per finalist (filled
    here; a choice made again after more finalists joined quantises nothing twice).
    ``budget``: a finalist whose file costs more cycles/sample on ``arch`` is passed over
    (one grown past the budget's structures, grown_fits_for_slack). ``grown_ranges``: the
    only (drive, level) knob ranges a ``grown`` finalist is tried with (the first choice's:
    a section more is not worth narrower knobs, nor the seconds narrowing them takes).

    A sane model that idles above the contract's floor after a loud input (IDLE_LIMIT_DBFS)
    gives way to the next sane finalist that idles within it, if that one validates within
    QUIET_MARGIN of it (ESR + pre-ESR); otherwise it is written as it is."""
    first = loud = None
    skipped: list = []
    checked = {} if checked is None else checked
    for best in finalists:
        if loud is not None and best.crit > QUIET_MARGIN * loud.best.crit:
            break  # nothing quiet close enough: the loud one stays
        if id(best) not in checked:
            ranges = ((grown_ranges,) if best.grown and grown_ranges is not None
                      else KNOB_RANGES)
            pm, qp, sane, why, used = _quantised(best, name, source, say, pool, ranges)
            passed_over = f"fails the sanity check ({why})"
            if sane and budget is not None:
                cycles = S.written_cycles(qp, arch)
                if cycles > budget:
                    sane, passed_over = False, (f"its file costs {cycles:.0f} cycles/sample, "
                                                f"over the budget of {budget:.0f}")
            # (best kept in the entry: an id names an object only while it lives)
            checked[id(best)] = (best, pm, qp, sane, why, passed_over,
                                 contract_idle_dbfs(qp) if sane else float("nan"), used)
        _, pm, qp, sane, why, passed_over, idle, used = checked[id(best)]
        if first is None or (first.qpedal is None and qp is not None):
            first = Chosen(best, pm, qp, False, why, [], float("nan"), used)  # (quantisable)
        if not sane:
            skipped.append({"structure": best.structure.name, "polished": best.polished,
                            "why": passed_over})
            continue
        if idle <= IDLE_LIMIT_DBFS:
            if loud is not None:
                say(f"{best.structure.name}: idles at {idle:.0f} dBFS, written instead "
                    f"(validation {best.crit:.4f} against {loud.best.crit:.4f})")
            return Chosen(best, pm, qp, True, "", skipped, idle, used)
        loud_text = f"idles at {idle:.0f} dBFS after a loud input (the contract: " \
                    f"{IDLE_LIMIT_DBFS:.0f})"
        if loud is None:
            say(f"{best.structure.name}: {loud_text}; trying the next finalist")
            loud = Chosen(best, pm, qp, True, "", skipped[:], idle, used)  # (passed over before)
        else:
            say(f"{best.structure.name}: idles at {idle:.0f} dBFS too")
        skipped.append({"structure": best.structure.name, "polished": best.polished,
                        "why": loud_text})
    if loud is not None:  # nothing quiet close enough: the loud one is written
        # a note, so that a batch's summary says it too (a Splawn draw idled at -69 dBFS)
        say(f"note: {name}: the model written idles at {idle_text(loud.idle_dbfs)}")
        return loud
    if first.qpedal is None:  # nothing passes, nothing can be quantised
        raise FitError(f"{name}: cannot quantise the fitted model ({first.why})")
    first.idle_dbfs = contract_idle_dbfs(first.qpedal)  # nothing passes: not to be written
    return first


def _quantised(best, name: str, source, say: Callable[[str], None],
               pool: Workers | None = None, ranges: tuple = KNOB_RANGES) -> tuple:
    """(PedalModel, QuantisedPedal or None, passed, reason, (drive, level) ranges in dB) of a
    finalist with the widest knob ranges of ``ranges`` whose quantised model passes the
    sanity check, or the last tried. At each knob
    range the quantiser's error feedback for the output's noise comes first, then the plain
    one (``quantise(downstream=False)``): it can idle more quietly at the knobs' extremes,
    and the knobs' range is worth more to a player than the difference in noise.

    ``pool``: the fit's workers, one of which quantises with the plain feedback while this
    process quantises with the other, in case it is needed (the fit's serial tail; the TS9
    needed it on 2026-12-05, 1.0 s); the same models as without it."""
    for drive_r, level_r in ranges:  # widest knob ranges that pass the sanity check
        pm = to_pedal_model(best.model, name=name, source=source, drive_range=drive_r,
                            level_range=level_r)
        plain = (pool.beside(_checked_quantise, pm, False) if pool is not None
                 else partial(_checked_quantise, pm, False))  # (done here when needed)
        qp, sane, why, hopeless = _checked_quantise(pm, True)
        if qp is not None and not sane:
            p_qp, p_sane, _, p_hopeless = plain()
            if p_sane:
                say(f"{best.structure.name}: the plain error feedback passes the sanity "
                    f"check with drive {drive_r} dB, level {level_r} dB, where the one "
                    f"for the output's noise failed: {why}")
                return pm, p_qp, True, "", (drive_r, level_r)
            hopeless = hopeless and p_hopeless
        if sane:
            break
        say(f"{best.structure.name}: sanity check failed with drive {drive_r} dB, "
            f"level {level_r} dB: {why}")
        if hopeless:  # fails at the fitted point: narrower knob ranges cannot help
            break
    return pm, qp, sane, why, (drive_r, level_r)


def _checked_quantise(pm, downstream: bool) -> tuple:
    """(QuantisedPedal or None, passed, reason, fails at the fitted point) of
    ``quantise(pm, downstream)`` and the sanity check (``_sanity``); None when it cannot be
    quantised (e.g. +18 dB of level headroom overflows the mantissa)."""
    from pedaltool.pedal import quantise

    try:
        qp = quantise(pm, downstream=downstream)
    except FitError as exc:
        return None, False, str(exc), False
    return (qp, *_sanity(qp))


def choose_written(finals: list, base: core.Candidate, cfg: FitConfig, pr: core.Probe,
                   dataset_of: Callable[[core.Candidate], core.Dataset], nfev: tuple[int, int],
                   name: str, source, say: Callable[[str], None], pool: Workers | None = None,
                   long_task: Callable = _final_task) -> tuple[Chosen, list, list]:
    """(the model to write, the quick fits and the long fits of a structure one section
    larger): the first sane finalist of ``ranked_finalists`` (``_first_sane``, Method step 7);
    then, when its file leaves room for another section (``grown_fits_for_slack``), the same
    choice made again among the finalists and the larger structure's fits, none of whose
    files may cost more than ``cfg.budget`` (Method step 8). The first choice's notes are said
    only if it stands; what it said is not said again."""
    finalists = ranked_finalists(finals, base, cfg)
    checked: dict = {}
    notes: list[str] = []
    said: set[str] = set()

    def first_say(s: str) -> None:
        if s.startswith("note:"):
            notes.append(s)
        else:
            said.add(s)
            say(s)

    chosen = _first_sane(finalists, name, source, first_say, pool, checked, cfg.budget, cfg.arch)
    quick, grown = grown_fits_for_slack(chosen, finalists, finals, cfg, pr, dataset_of, nfev,
                                        say, pool, long_task)
    if not grown:
        for s in notes:
            say(s)
        return chosen, quick, grown
    again = ranked_finalists(finals + grown, base, cfg)
    first = chosen
    held: list[str] = []
    chosen = _first_sane(again, name, source,
                         lambda s: held.append(s) if s.startswith("note:") else
                         None if s in said else say(s), pool, checked, cfg.budget, cfg.arch,
                         first.knob_ranges)
    st = grown[0].structure.name
    if chosen.best.grown and chosen.idle_dbfs > IDLE_LIMIT_DBFS >= first.idle_dbfs:
        # (written loud only because nothing quiet validated close to it: the model the
        # budget grew idles within the contract, so it stays)
        say(f"{st}: not written (it idles at {chosen.idle_dbfs:.0f} dBFS after a loud input, "
            f"{first.best.structure.name} within the contract)")
        for s in notes:
            say(s)
        return first, quick, grown
    for s in held:
        say(s)
    if chosen.best.grown:
        say(f"{st}: written, one section more than the budget grew "
            f"({S.written_cycles(chosen.qpedal, cfg.arch):.0f} of {cfg.budget:.0f} "
            "cycles/sample)")
    else:
        why = list(dict.fromkeys(p["why"] for p in chosen.passed_over if p["structure"] == st))
        say(f"{st}: not written ({'; '.join(why) if why else 'it validates no better than '}"
            f"{'' if why else chosen.best.structure.name})")
    return chosen, quick, grown


def grown_fits_for_slack(chosen: Chosen, finalists: list, finals: list, cfg: FitConfig,
                         pr: core.Probe, dataset_of: Callable[[core.Candidate], core.Dataset],
                         nfev: tuple[int, int], say: Callable[[str], None],
                         pool: Workers | None = None, long_task: Callable = _final_task
                         ) -> tuple[list, list]:
    """(quick fits, long fits with their post-EQ polished) of the best-validating finalist's
    structure one section larger (``structure.larger``), fitted as the others were, when the
    file ``chosen`` would write leaves room for a section on the HALF loop
    (``structure.half_section_cycles``); ([], []) otherwise, at ``--quick``, and when the
    naive structure is written (every fitted structure validated worse than it: the demo's
    capture spent 8 s on a larger one that validated worse too, 2026-12-07).

    Why: the structures are grown to the budget with every section at the full loop's cost,
    and the quantiser then puts the sections it can on the Q12 loops, so a file used 80-90 %
    of the budget. Whether the larger one is written is the finalists' choice, its file's
    own cost against the budget included (``choose_written``)."""
    if cfg.effort == "quick" or not chosen.sane or chosen.best.structure.name == "baseline":
        return [], []
    top = next((c for c in finalists if c.structure.name != "baseline"), None)
    grown_st = S.larger(top.structure) if top is not None else None
    written = S.written_cycles(chosen.qpedal, cfg.arch)
    if grown_st is None or cfg.budget - written < S.half_section_cycles(cfg.arch):
        return [], []
    say(f"trying {grown_st.name}, one section more than the best finalist: the written "
        f"file uses {written:.0f} of the {cfg.budget:.0f} cycles/sample")
    quick, longs = _grown_fits(grown_st, finals, pr, dataset_of, nfev, say, pool, long_task)
    return quick, with_polished(longs, None, dataset_of, say, pool)


# long fits of a grown structure: its best quick fits over the fitting datasets (one per
# worker side by side); its quick fit on the top finalist's dataset alone left the Klon's
# wh-3/6 at 0.0105, its best of three at 0.0089 (2026-12-07)
GROWN_LONG_FITS = 2


def _grown_fits(st: S.Structure, finals: list, pr: core.Probe,
                dataset_of: Callable[[core.Candidate], core.Dataset], nfev: tuple[int, int],
                say: Callable[[str], None], pool: Workers | None, long_task: Callable
                ) -> tuple[list, list]:
    """(quick fits, long fits) of ``st``, marked ``grown``, best validation first: its
    initial EQs, a quick fit on each fitting dataset the ``finals`` were fitted on, then the
    GROWN_LONG_FITS best of those long fitted (``long_task(c, pr, dataset, iterations)``), on
    ``pool``'s workers (None: here)."""
    data = {c.dataset: dataset_of(c) for c in finals}
    quick: list = []

    def follow(key, result) -> list[Task]:
        if key[0] == "grown eq":
            return [Task(("grown quick", j), _quick_task, (st, pr, d, nfev[0], j, result),
                         QUICK) for j, d in sorted(data.items())]
        if key[0] != "grown quick":
            return []
        result.grown = True
        quick.append(result)
        if len(quick) < len(data):
            return []
        return [Task(("grown long", c.dataset), long_task, (c, pr, data[c.dataset], nfev[1]),
                     LONG) for c in sorted(quick, key=_rank)[:GROWN_LONG_FITS]]

    done = run_graph([Task(("grown eq",), _eq_task, (st, pr), DATA)], 1, say, follow, pool)
    return (sorted(quick, key=_rank),
            sorted((c for k, c in done.items() if k[0] == "grown long"), key=_rank))


def _sanity(qp) -> tuple[bool, str, bool]:
    """(passed, reason, fails at the fitted point) of the pedal room's sanity check (finite,
    stable, bounded, decays); the last is True when no narrower knob range can pass."""
    from pedaltool.pedal import sanity_check

    try:
        sanity_check(qp)
    except PedalFormatError as exc:
        return False, str(exc), bool(getattr(exc, "at_fitted_point", False))
    return True, "", False


def fit_capture(path: str | Path, cfg: FitConfig | None = None) -> FitResult:
    """Fit a .nam capture (the oracle) at its calibrated level; nothing is written."""
    from pedaltool import nam

    cfg = cfg or FitConfig()
    path = Path(path)
    model = nam.load(path)
    if cfg.progress:  # what `info` says of the file (a rate assumed, a version not known)
        for line in note_lines(model.notes):
            cfg.progress(line)
    native = float(model.sample_rate or 48000.0)
    if not MIN_CAPTURE_RATE <= native <= MAX_CAPTURE_RATE:
        raise FitError(f"{path}: capture rate {native:g} Hz is outside "
                       f"{MIN_CAPTURE_RATE}..{MAX_CAPTURE_RATE} Hz")
    rf_s = model.receptive_field / native
    if rf_s > MAX_RECEPTIVE_FIELD_S:  # it would be probed for minutes and found "silent"
        raise FitError(f"{path}: the capture looks {rf_s:.1f} s back in time (its receptive "
                       "field): a delay or reverb, which a block model cannot represent")
    resampled = capture_rate_note(native, cfg.rate)
    if resampled and cfg.progress:
        cfg.progress(resampled)
    md = model.metadata
    level = calibration_scale(model, path)
    src = SourceInfo(path.name, model.sha256,
                     md.gear_type or "", md.tone_type or "")
    oracle = Oracle(model.render, native, cfg.rate, str(path), dc=None)
    if oracle.dc_note() and cfg.progress:
        cfg.progress(f"note: {oracle.dc_note()}")
    return fit_oracle(oracle, path.stem, cfg, source=src, level=level, source_path=str(path))


def write_result(res: FitResult, out: str | Path | None = None,
                 say: Callable[[str], None] | None = None) -> Path:
    """Write the .pedal (default: the bank, ./pedals/<capture-stem>.pedal; ``out`` a file, or
    an existing folder to write <capture-stem>.pedal into) only if it passed the sanity check;
    FitError otherwise. ``say``: told when the file replaced holds another capture's model
    (two captures with one file name in different folders share a bank entry)."""
    from pedaltool.pedal import write_pedal

    if not res.sane:
        raise FitError(f"{res.name}: not written, the model failed the sanity check "
                       f"({res.sanity_message})")
    if (res.device_vs_float_esr > MAX_DEVICE_VS_FLOAT_ESR
            and res.float_score.esr < MAX_USEFUL_ESR):
        rms = None if res.eval_y is None else rms_dbfs(res.eval_y)
        lo, hi = PEDAL_LEVEL_DBFS
        level = (f"; the capture's output is {rms:.0f} dBFS RMS, far from a guitar pedal's"
                 if rms is not None and not lo <= rms <= hi else "")
        raise FitError(f"{res.name}: not written, the pedal's integer arithmetic cannot carry "
                       f"this model (device ESR {res.score.esr:.2f} where the float model "
                       f"scores {res.float_score.esr:.4f}){level}")
    if not res.score.esr < MAX_USEFUL_ESR:
        if res.qpedal.source.gear_type == RECORDED_GEAR:
            # the same-take check passes another take of the same riff (the notes' timing
            # lines up to a few ms); the fit is where it shows (docs/fitting.md). Both files
            # are named: the question is about the two (it named the reamp alone)
            rec = res.recording or {}
            who = (f"{Path(rec['di']).name} / {Path(rec['reamp']).name}"
                   if rec.get("di") and rec.get("reamp") else res.name)
            raise FitError(f"{who}: not written, the DI explains almost none of the "
                           f"reamp (best device ESR {res.score.esr:.2f} on the held-out end, "
                           f"at a budget of {res.budget:.0f} cycles/sample): are they the same "
                           "take?")
        raise FitError(f"{res.name}: not written, the capture cannot be approximated within "
                       f"{res.budget:.0f} cycles/sample (best device ESR {res.score.esr:.2f})")
    path = pedal_path(res.name, out)
    other = _other_source(path, res.qpedal.source)
    written = write_pedal(path, res.qpedal)
    if other and say:
        say(f"note: {path} was a model of another capture ({other}); replaced")
    return written


def _other_source(path: Path, source: SourceInfo) -> str:
    """The capture (file name and hash) of the .pedal at ``path`` if it is not ``source``,
    else "" (no file, an unreadable one, or the same capture)."""
    from pedaltool.pedal import read_pedal

    if not source.sha256 or not os.path.isfile(path):
        return ""
    try:
        old = read_pedal(path).source
    except (PedalFormatError, OSError):  # not a readable model: nothing to say about its capture
        return ""
    if not old.sha256 or source.sha256.startswith(old.sha256):  # the file keeps a prefix
        return ""
    return f"{old.file_name or 'unnamed'}, sha256 {old.sha256[:12]}"


def pedal_path(name: str, out: str | Path | None = None) -> Path:
    """Where :func:`write_result` puts the .pedal of capture ``name``: ``out`` if it names a
    file, ``<out>/<name>.pedal`` if it is an existing folder, the bank
    ``./pedals/<name>.pedal`` without it."""
    path = Path(out) if out else BANK_DIR
    if path.is_dir() or not out:  # a folder (the bank by default) gets <capture>.pedal
        path = path / f"{name}.pedal"
    return path


# compare scores at most this much of a DI (s): the spectra of the log-spectral distance take
# about 200 bytes a sample (60 s: 0.7 GB for the whole command; 10 minutes took 6.9 GB)
COMPARE_MAX_SECONDS = 60.0

# samples a pedal fitted from a recording may be early or late against a capture of the
# device: align keeps 8 samples of the pair's lag, so its latency is not the device's
RECORDED_MAX_LAG = 256


def compare(nam_path: str | Path, pedal_path: str | Path, di: np.ndarray | None = None,
            di_rate: int | None = None, baseline: bool = True, cfg: FitConfig | None = None,
            di_name: str = "the DI", playback: bool = False) -> dict:
    """Score an existing .pedal against its capture (device-exact), with the naive baseline
    fitted and scored as ``fit`` does it (:func:`baseline_scores`, device-exact, at the
    effort the file records, else ``cfg``'s): on the default evaluation DI, the numbers the
    fit reported.

    Returns {"device": {...}, "baseline": {...} | None, "sample_rate_hz": .., "notes":
    ["note: ..." and "warning: ..." lines, as ``fit`` says them: the capture's own (its rate
    assumed, its DC removed), another capture's .pedal, a resampled or shortened DI], "y_nam",
    "x", and with ``playback``
    "y_pedal" (what the pedal plays: from its rest, Engine.prewarm; the score is of a cold
    start, as the fit's: a second device run, so only on request)}. FitError for a
    DI shorter than a recording pair may be (``recording.MIN_SECONDS``) or silent, naming it
    as ``di_name`` (its file)."""
    from pedaltool import nam
    from pedaltool.fit.recording import MIN_SECONDS
    from pedaltool.pedal import read_pedal, simulate_device_float

    cfg = cfg or FitConfig()
    qp = read_pedal(pedal_path, order_hint=True)  # (the two come in an order: a swap is
    model = nam.load(nam_path, order_hint=True)  # said as one)
    rate = int(qp.sample_rate)
    _check_rate(rate, f"{pedal_path}: ")  # (render plays it: the rates are the fitter's)
    notes = note_lines(model.notes)  # what `info` and `fit` say of the file
    # (a pair's pedal records its reamp's hash: a capture of the device is what it meets here)
    if qp.source.sha256 and qp.source.gear_type != RECORDED_GEAR and \
            not model.sha256.startswith(qp.source.sha256):
        notes.append(f"warning: {Path(pedal_path).name} was fitted from "
                     f"{qp.source.file_name or '?'} (sha256 {qp.source.sha256}...), not from "
                     "this file: the scores compare two different sounds")
    level = calibration_scale(model, nam_path)
    native = float(model.sample_rate or 48000.0)
    resampled = capture_rate_note(native, rate)
    if resampled:
        notes.append(resampled)
    oracle = Oracle(model.render, native, rate, str(nam_path), dc=None)
    if oracle.dc_note():
        notes.append(f"note: {oracle.dc_note()}")
    if di is None:
        x = signals.evaluation_di(rate, cfg.eval_seconds).astype(np.float64) * level
    else:
        src = int(di_rate) if di_rate else rate
        if len(di) > COMPARE_MAX_SECONDS * src:  # cut first: never copied or resampled whole
            notes.append(f"warning: {di_name}: scored on its first {COMPARE_MAX_SECONDS:g} s of "
                         f"{len(di) / src:.1f} s")
            di = di[: int(COMPARE_MAX_SECONDS * src)]
        x = np.asarray(di, np.float64)
        if src != rate:  # as `render` reads it: the same pedal output
            x = resample(x, src, rate).astype(np.float64)
            notes += note_lines([rate_note(src, rate, "the pedal's ")], di_name)
        # as long and as audible as a recording pair must be (fit --input/--target)
        if len(x) < MIN_SECONDS * rate:
            # (rounded down: 2.9998 s read "3.00 s, need 3 s")
            raise FitError(f"{di_name}: too short to score on "
                           f"({math.floor(100 * len(x) / rate) / 100:.2f} s, need "
                           f"{MIN_SECONDS:g} s)")
        if silent(x):
            raise FitError(f"{di_name}: silent ({silence_text(x)}), nothing to score on")
    hot = hot_input_note(x, "the DI")
    level_note = hot + SCORED_CLIPPING if hot else quiet_input_note(x, "the DI")
    if level_note:
        notes.append(f"warning: {level_note}")
    say = cfg.progress or (lambda s: None)
    say("rendering the DI through the capture")
    y = Oracle(lambda v: model.render(v, progress=progress_every(say, len(v))),
               float(model.sample_rate or 48000.0), rate, str(nam_path), dc=oracle.dc)(x)
    if silent(y):  # no ESR is defined against silence
        raise FitError(f"{nam_path}: the capture's output on {di_name} is silent: nothing to "
                       "score the pedal against")
    say("running the pedal (device-exact)")
    yp = simulate_device_float(qp, x)
    if qp.source.gear_type == RECORDED_GEAR:
        lags, vals = lag_window(cross_correlation(yp, y), 0, RECORDED_MAX_LAG)
        lag = int(lags[np.argmax(vals)])  # positive: the pedal comes later
        if lag:
            notes.append(f"warning: {Path(pedal_path).name} was fitted from a recording, "
                         "whose alignment (not the device's latency) set its own: its output "
                         "is moved "
                         f"{abs(lag)} sample{'s' if abs(lag) != 1 else ''} "
                         f"{'earlier' if lag > 0 else 'later'} to line up "
                         "with the capture's before scoring")
            yp = np.concatenate([yp[lag:], np.zeros(lag)]) if lag > 0 else \
                np.concatenate([np.zeros(-lag), yp[:lag]])
    target = metrics.Target(y)
    out = {"sample_rate_hz": rate, "device": target.metrics(yp), "baseline": None,
           "notes": notes, "y_nam": y, "x": x}
    if playback:
        out["y_pedal"] = simulate_device_float(qp, x, prewarm=True)
    if baseline:
        recorded = qp.accuracy.effort
        effort = recorded if recorded in EFFORTS else cfg.effort
        if recorded and effort != recorded:  # a later or foreign writer's
            notes.append(f"note: {Path(pedal_path).name} records an effort this version does "
                         f"not know ({recorded!r}): the baseline is fitted at {effort} effort")
        bcfg = replace(cfg, rate=rate, baseline=True, effort=effort)
        bscore, _ = baseline_scores(oracle, bcfg, level, Path(nam_path).stem, x, y)
        out["baseline"] = bscore.as_dict()
    out["improvement_vs_baseline"] = improvement(
        out["baseline"]["esr"] if out["baseline"] else None, out["device"]["esr"])
    return out


def baseline_scores(render: Oracle, cfg: FitConfig, level: float, name: str,
                    eval_x: np.ndarray, eval_y: np.ndarray) -> tuple[Score, Score]:
    """The naive baseline as ``fit_oracle`` fits it (the same probe, fitting datasets,
    iterations and choice by validation, in the same task graph) and its (device-exact, float)
    scores on (eval_x, eval_y): on the evaluation DI, the numbers the fit reported."""
    say = cfg.progress or (lambda s: None)
    workers = fit_workers(cfg)
    with _oracle_for_workers(render, workers):
        say("probing (DC, latency, best linear approximations)")
        pr = core.probe(render, cfg.rate, level, name)
        say("fitting the naive baseline (biquad + tanh + biquad)")
        graph = _FitGraph(cfg, pr, datasets_for(cfg, pr), [], workers, _nfev(cfg, pr), name,
                          say, (eval_x, eval_y))
        done = run_graph(graph.initial(cfg.rate, level), workers, say, graph)
    return done["base score"]
