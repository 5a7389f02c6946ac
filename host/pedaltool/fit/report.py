"""Human-readable result tables and the optional --plot figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pedaltool.errors import FitError
from pedaltool.fit.structure import DEFAULT_BUDGET
from pedaltool.outfile import write_figure
from pedaltool.pedal.cost import rp2040_share_estimate


def _f(v, fmt=".4f") -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, fmt)


TARGET_RATIO = 5.0  # the "5x lower ESR than the naive baseline"


def _rounded(v: float, places: int, up: bool) -> float:
    """``v`` rounded up or down to ``places`` decimals (1e-9: 0.0498 / 0.01 is
    4.9799999999999995, which is 4.98)."""
    if up:
        return math.ceil(v * 10**places - 1e-9) / 10**places
    return math.floor(v * 10**places + 1e-9) / 10**places


def times_text(ratio: float | None) -> str:
    """A ratio (how many times lower an ESR is) with two decimals below 10, one above, and
    rounded down where rounding would carry a miss of the 5x target up to it: 4.98 printed as
    "5.0" read as met (the HM-2's, 2026-12-06), as 4.996 printed "5.00" did (a review)."""
    if ratio is None or not np.isfinite(ratio):
        return "-"
    places = 2 if ratio < 10 else 1
    text = format(ratio, f".{places}f")
    if ratio < TARGET_RATIO <= float(text):
        return format(_rounded(ratio, places, up=False), f".{places}f")
    return text


def worse_text(ratio: float) -> str:
    """For a ratio under 1 (the baseline the better): how many times, rounded up (towards
    the miss: 0.999 read "1.00x lower", a review), as :func:`times_text` formats it."""
    inv = 1.0 / ratio
    places = 2 if inv < 10 else 1
    return format(_rounded(inv, places, up=True), f".{places}f")


def up_text(v: float | None, fmt: str, limit: float) -> str:
    """``v`` in ``fmt`` (fixed ``.Nf`` or ``.Ne``), rounded up where plain rounding would
    print a miss of ``limit`` (``v`` must stay at or under it) at or under it: 0.01004 as
    "0.0100" beside "ESR NOT MET", -89.6 dBFS as "-90" beside an idle target of -90 (a
    review). Anything else prints as plain rounding does."""
    if v is None or not np.isfinite(v):
        return "-"
    text = format(v, fmt)
    if not v > limit >= float(text):
        return text
    places = int(fmt[1:-1])
    if fmt.endswith("f"):
        return format(_rounded(v, places, up=True), fmt)
    exp = int(text.split("e")[1])
    mant = _rounded(v / 10.0**exp, places, up=True)  # (10.0 carries over)
    return format(mant * 10.0**exp, fmt)


ROOMY = 0.6  # a fit with a large --budget using less than this of it says why

# what a device ESR means to a player, worst first (lower limit, in a word, in a sentence):
# NAM's trainer calls < 0.01 "great" and < 0.035 "not bad"; above 0.1 the pedal is a
# different sound (docs/fitting.md, "What is not met": saturating captures defeat static
# block models)
VERDICTS = ((0.1, "far", "far from the {against}: a different sound at this budget; high-gain "
                         "and heavily compressed captures defeat block models, see "
                         "docs/fitting.md"),
            (0.035, "audible", "audibly different from the {against}"),
            (0.01, "close", "close: NAM's trainer calls an ESR below 0.035 not bad"),
            (0.0, "very close", "very close: NAM's trainer calls an ESR below 0.01 great"))


def _verdict_row(esr: float) -> tuple:
    if not np.isfinite(esr):
        return VERDICTS[0]
    return next(v for v in VERDICTS if esr >= v[0])


def verdict(esr: float, against: str = "capture") -> str:
    """What the device ESR means to a player (VERDICTS), in a sentence; ``against``: what
    the model was scored against (a recorded pair: "reamp")."""
    return _verdict_row(esr)[2].format(against=against)


def short_verdict(esr: float) -> str:
    """:func:`verdict` in a word or two, for the batch summary's column."""
    return _verdict_row(esr)[1]


def _rp2040_text(res) -> str:
    """The model's share of an RP2040 (kernels, block I/O and the engine's estimated
    dispatch, as the budget counts them) at the model's own rate. Not the chip's load: the
    app loop's own work per block comes on top, more than the chip by estimate
    (docs/performance.md, "The app loop")."""
    qp = getattr(res, "qpedal", None)
    if qp is None:
        return ""
    return (f"; the model ~{100 * rp2040_share_estimate(qp):.0f} % of an RP2040 at "
            f"{qp.sample_rate / 1000:g} kHz, the app loop not counted (docs/performance.md)")


def result_table(res) -> str:
    """The short result table printed after one fit."""
    b = res.baseline
    what = "reamp" if res.recording else "capture"
    rows = [
        (what, f"{res.name} (the pedal at {res.rate} Hz)"),
        ("structure", f"{res.structure}  ({res.structure_notes})"),
        ("cost", f"{res.cycles:.0f} cycles/sample of {res.budget:.0f} budget ({res.arch}, "
                 f"{100 * res.cycles / res.budget:.0f} %)" + _rp2040_text(res)
                 + ("; the structures stop growing at their caps: more sections did not buy "
                    "accuracy (docs/fitting.md)" if res.cycles < ROOMY * res.budget
                    and res.budget > DEFAULT_BUDGET else "")),
        ("ESR (device-exact)", f"{_f(res.score.esr)}  ({verdict(res.score.esr, what)})"),
        ("ESR pre-emphasised", _f(res.score.esr_pre)),
        ("log-spectral dist.", _f(res.score.lsd_db, ".2f") + " dB"),
        ("float model ESR", f"{_f(res.float_score.esr)} / pre {_f(res.float_score.esr_pre)}"),
        ("device vs float", f"ESR {res.device_vs_float_esr:.1e} (the integer arithmetic; "
                            + ("contract <= 1e-5)" if res.device_vs_float_esr <= 1e-5 else
                               "above the contract's 1e-5: int16 rounding between stages, "
                               "docs/arithmetic.md" + _under_own_error(res) + ")")),
        ("idle after playing", idle_text(res.idle_dbfs)),
        ("naive baseline ESR", (f"{_f(b.esr)} / pre {_f(b.esr_pre)}  "
                                + _against_baseline(res)) if b else "-"),
        ("fit time", f"{res.seconds:.1f} s"
                     # a recorded pair has no capture to render
                     + (f" (the capture's renders: {res.render_seconds:.1f} s of CPU, in "
                        "parallel)" if res.render_seconds > 0 else "")),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def idle_text(idle_dbfs: float) -> str:
    """A written model's output in digital silence after a loud input (the contract's idle
    figure, dBFS) and, for a miss, what it means to a player: the result table's row and the
    fit's note (a draw of the Splawn idled at -69 dBFS, said nowhere but in a progress line)."""
    from pedaltool.pedal.quantise import IDLE_LIMIT_DBFS
    from pedaltool.pedal.simulate import EXACT_SILENCE_DBFS

    limit = f"{IDLE_LIMIT_DBFS:.0f} dBFS"
    if idle_dbfs <= EXACT_SILENCE_DBFS:
        return f"exact digital silence after a loud input (contract <= {limit})"
    if idle_dbfs <= IDLE_LIMIT_DBFS:
        return f"{idle_dbfs:.1f} dBFS after a loud input (contract <= {limit})"
    return (f"{idle_dbfs:.1f} dBFS after a loud input (above the contract's {limit}: a faint "
            "noise may remain after loud playing, int16 rounding cycles, docs/arithmetic.md)")


def _under_own_error(res) -> str:
    """How far the arithmetic's error sits under the model's own: a miss of the contract read
    as a failure beside a written model and exit 0 (an audit), where it is 30 dB down."""
    dev, own = res.device_vs_float_esr, res.score.esr
    if not (np.isfinite(dev) and np.isfinite(own)) or dev <= 0:
        return ""
    if own <= dev:  # where it matters: said as plainly
        return "; at or above the model's own error"
    return f"; {10 * np.log10(own / dev):.0f} dB under the model's own error"


def _against_baseline(res) -> str:
    """The naive baseline row's note: how much worse it is, or, when its raw ESR is the lower,
    why the model was written all the same: the finalists are chosen on the held-out fitting
    playing (``api.ranked_finalists``), never on the evaluation DI these scores are from, and
    the two can disagree (a capture at a wrong calibration, driven 25 dB past full scale)."""
    if res.structure == "baseline":
        return "(the pedal is the naive structure itself, plus knobs)"
    why = why_not_naive(res)
    if why is None:
        return f"({times_text(res.improvement)}x worse)"
    return f"(its raw ESR is {worse_text(res.improvement)}x lower here; {why})"


def why_not_naive(res) -> str | None:
    """Why a fit whose naive baseline scores the lower raw ESR wrote the richer model (None
    when it does not: the baseline's ESR is the higher, or the pedal is the baseline): the
    naive structure validated first and was passed over (its idle or the sanity check:
    FitResult.passed_over; the demo's capture, whose naive model hisses at -88 dBFS after
    playing), or the model ranked first on the held-out fitting playing."""
    if res.structure == "baseline" or not res.improvement < 1.0:
        return None
    for p in res.passed_over:
        if p["structure"] == "baseline":
            return f"the naive structure ranked first but was not written: it {p['why']}"
    return ("the model was chosen on held-out fitting playing, never on this DI: the JSON "
            "report's candidates")


def compare_lines(res: dict) -> list[str]:
    """What ``compare``'s scores mean, under its table: the fit table's verdict and the ratio
    to the naive baseline (``api.compare``'s dict)."""
    lines = [f"the pedal: {verdict(res['device']['esr'])}"]
    ratio = res.get("improvement_vs_baseline")
    if ratio is not None and np.isfinite(ratio) and ratio >= 1.0:
        lines.append(f"the naive baseline's ESR is {times_text(ratio)}x the pedal's")
    elif ratio is not None and np.isfinite(ratio) and ratio > 0.0:  # ("0.00x", a review)
        lines.append(f"the naive baseline's ESR is {worse_text(ratio)}x lower than the "
                     "pedal's on this DI")
    return lines


SUMMARY_HEADER = ("capture", "structure", "cycles", "ESR", "ESR pre", "LSD dB", "baseline",
                  "x better", "verdict", "time s", "written")


def summary_rows(items: list[dict]) -> list[tuple]:
    """items: ``batch.report`` (the .pedal written, or None with an 'error' saying why) or
    ``batch.failure`` reports. The file names are the batch's folder plus the capture's name,
    so "written" says yes or no; why not is one line of :func:`summary_problems` under the
    table, which keeps the table narrow."""
    from pedaltool.fit.batch import written

    rows = []
    for d in items:
        if "device" not in d:
            rows.append((d["name"], "error", "", "", "", "", "", "", "", "", "no"))
            continue
        b = d.get("baseline") or {}
        rows.append((d["name"], d["structure"], f"{d['cycles_per_sample']:.0f}",
                     _f(d["device"]["esr"]), _f(d["device"]["esr_pre"]),
                     _f(d["device"]["lsd_db"], ".2f"), _f(b.get("esr")),
                     _x_better(d.get("improvement_vs_baseline")),
                     short_verdict(d["device"]["esr"]), f"{d['seconds']:.0f}",
                     "yes" if written(d) else "no"))
    return rows


def _x_better(ratio: float | None) -> str:
    """The summary's "x better": a ratio under 1 (the baseline the better) said as such."""
    if ratio is not None and 0.0 < ratio < 1.0:
        return f"{worse_text(ratio)}x worse"
    return times_text(ratio)


def summary_problems(items: list[dict]) -> list[str]:
    """One line per capture of :func:`summary_rows` that failed or was not written: why."""
    from pedaltool.fit.batch import given, written

    lines = []
    for d in items:
        if written(d):
            continue
        why = d.get("error") or "not written"
        src = given(d)  # the path as given: two captures may share a name
        for own in (src, Path(src).name, d["name"]):  # the library's errors start with one
            if why.startswith(own + ":"):
                why = why[len(own) + 1:].lstrip()
                break
        lines.append(f"{src}: {why}")
    return lines


def format_rows(header: tuple, rows: list[tuple]) -> str:
    cols = list(zip(header, *rows, strict=False)) if rows else [(h,) for h in header]
    w = [max(len(str(c)) for c in col) for col in cols]
    line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * x for x in w))] + [line(r) for r in rows])


def check_plotting() -> None:
    """FitError unless matplotlib's pyplot (the plot extra) can be imported: checked before a
    fit. pyplot, not only matplotlib: it needs more (fontTools, kiwisolver), and a matplotlib
    without them let a fit run to the end and then fail as an internal error (an audit)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot  # noqa: F401
    except ImportError as exc:
        raise FitError(f"--plot needs matplotlib: pip install 'pedaltool[plot]' ({exc})"
                       ) from None


def plot(res, png: str | Path) -> Path:
    """Table curve(s), pre/post EQ magnitude responses and, when ``res`` kept its scoring
    pair, the error spectrum of the written file's device-exact output to a PNG. Needs
    matplotlib (an optional extra: :func:`check_plotting`)."""
    check_plotting()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
    from scipy import signal

    from pedaltool.fit.blocks import cascade_sos

    m = res.model
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for k, st in enumerate(m.stages):
        env = f", envelope bias {st.env_depth:+.2f}" if st.env_depth else ""
        ax[0].plot(st.knots, st.values, label=f"table {k + 1}{env}")
    # the table alone is the pedal's transfer shape only without the clean path beside it
    mix = f" (+ clean path x{m.mix_gain:.2f}, not drawn)" if m.mix_gain else ""
    ax[0].set_title(f"table curve(s){mix}")
    ax[0].set_xlabel("table input (1 = the end of its range)")
    ax[0].set_ylabel("table output")
    f = np.geomspace(20, 0.45 * m.rate_hz, 400)
    for k, st in enumerate(m.stages):
        # with the gain into the table: what the drive sees (the table's x axis is after it)
        _, h = signal.sosfreqz(cascade_sos(st.pre, m.rate_hz), worN=f, fs=m.rate_hz)
        ax[1].semilogx(f, 20 * np.log10(np.abs(h * st.in_gain) + 1e-12),
                       label=f"pre-EQ {k + 1} x input gain (into table {k + 1})")
    _, h = signal.sosfreqz(cascade_sos(m.post, m.rate_hz), worN=f, fs=m.rate_hz)
    ax[1].semilogx(f, 20 * np.log10(np.abs(h) + 1e-12), label="post-EQ")
    ax[1].set_title("EQ magnitude")
    ax[1].set_ylabel("gain (dB)")
    y = res.eval_y
    if y is not None and res.eval_device is not None:
        capture = res.recording is None  # (as result_table tells a pair)
        where = "the evaluation DI" if capture else "the held-out recording"
        e = res.eval_device - y  # the written file's, as scored
        # 8192 samples: 6 Hz bins at 48 kHz, a few more points in the bass than 4096 gave
        fy, py = signal.welch(y, fs=m.rate_hz, nperseg=8192)
        _, pe = signal.welch(e, fs=m.rate_hz, nperseg=8192)
        ax[2].semilogx(fy[1:], 10 * np.log10(py[1:] + 1e-20),
                       label="capture" if capture else "reamp")
        ax[2].semilogx(fy[1:], 10 * np.log10(pe[1:] + 1e-20), label="error (device-exact)")
        ax[2].set_title(f"spectra on {where}")
        ax[2].set_ylabel("power density (dB re full scale²/Hz)")
    hz = FuncFormatter(
        lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}")
    for a in ax[1:]:
        if a.has_data():
            a.set_xlim(20, 0.45 * m.rate_hz)
            a.set_xlabel("frequency (Hz)")
            a.xaxis.set_major_formatter(hz)
    for a in ax:
        if a.has_data():
            a.grid(True, which="major", alpha=0.3)
            a.legend(fontsize="small")
    fig.suptitle(f"{res.name}: {res.structure}, device ESR {res.score.esr:.4f}")
    fig.tight_layout()
    try:
        return write_figure(fig, png, 90, make_folder=True, error=FitError)
    finally:
        plt.close(fig)
