"""Quantisation accuracy: device-exact output vs the float model (ESR <= 1e-5 on the evaluation
DI) and idle floor (<= -90 dBFS in silence after a loud passage) for low-frequency EQ; the
quantiser's refusals; the float model's own invariants."""

import sys

import numpy as np
import pytest
from pedal_helpers import biquad_stage, fitted_looking, musical, rbj
from pedaltool import signals
from pedaltool.errors import FitError
from pedaltool.pedal import model as M
from pedaltool.pedal import quantise, simulate, simulate_device_float, simulate_float
from pedaltool.pedal.accuracy import (
    contract_idle_dbfs,
    eq_test_models,
    esr_vs_float,
    idle_floor_dbfs,
    loud_passage,
)
from pedaltool.pedal.quantise import QStage, QuantisedPedal
from pedaltool.pedal.simulate import float_to_int16, idle_tail_dbfs, idle_tail_levels_dbfs


@pytest.fixture(scope="module")
def di48():
    return signals.evaluation_di(48000.0, 6.0).astype(np.float64)


@pytest.mark.parametrize("case", ["hp20", "lowshelf80+6", "peak5k+6", "cascade10"])
def test_eq_accuracy_48k(case, di48):
    model = eq_test_models(48000)[case]
    assert esr_vs_float(model, di48) <= 1e-5
    assert idle_floor_dbfs(model, loud_passage(48000)) <= -90.0


@pytest.mark.parametrize("rate", [44100, 32000])
def test_eq_accuracy_other_rates(rate):
    x = signals.evaluation_di(float(rate), 4.0).astype(np.float64)
    for case in ("hp20", "cascade10"):
        model = eq_test_models(rate)[case]
        assert esr_vs_float(model, x) <= 1e-5, case
        assert idle_floor_dbfs(model, loud_passage(rate)) <= -90.0, case


def test_error_feedback_is_what_keeps_the_low_end_clean(di48):
    """Without error feedback the 20 Hz high-pass would amplify its rounding noise (the test
    of the design choice: the contract fails with k1 = k2 = 0)."""
    from pedaltool.pedal.quantise import QStage
    from pedaltool.pedal.simulate import float_to_int16, simulate

    model = eq_test_models(48000)["hp20"]
    qp = quantise(model)
    st = qp.stages[0]
    assert st.p[5:] == (-2, 1)
    qp.stages[0] = QStage(st.kind, None, st.p[:5] + (0, 0))
    y = simulate(qp, float_to_int16(di48)).astype(float) / 32768
    ref = simulate_float(model, di48)
    assert np.sum((y - ref) ** 2) / np.sum(ref**2) > 1e-5


def test_fitted_chain_accuracy():
    """A whole fitted-looking chain (table, env bias, tap/mix, tone, dcblock) tracks the float
    model closely on a musical signal (the envelope follower's integer form dominates)."""
    for env, mix, limit in ((False, False, 1e-6), (False, True, 1e-6), (True, True, 2e-5)):
        m = fitted_looking(48000, env=env, mix=mix)
        x = musical(48000, 48000, seed=2)
        y = simulate_device_float(quantise(m), x)
        ref = simulate_float(m, x)
        assert np.sum((y - ref) ** 2) / np.sum(ref**2) < limit, (env, mix)


def test_knobs_follow_the_float_model():
    m = fitted_looking(48000)
    qp = quantise(m)
    x = musical(48000, 24000, seed=8)
    for knobs in ({"drive": 0.9}, {"tone": 0.1}, {"level": 0.2}, {"drive": 0.2, "tone": 0.9}):
        y = simulate_device_float(qp, x, knobs)
        ref = simulate_float(m, x, knobs)
        assert np.sum((y - ref) ** 2) / np.sum(ref**2) < 1e-4, knobs


def test_tone_at_fitted_point_is_identity():
    x = musical(48000, 4800)
    y = simulate_float(M.PedalModel([M.ToneStage(700, 12)], 48000), x)
    assert np.allclose(x, y, atol=1e-12)


@pytest.mark.parametrize("stages,why", [
    ([M.BiquadStage(1, 0, 0, -2.0, 1.01)], "unstable"),
    ([M.TableStage(1.0, -1, 1, np.zeros(100))], "2\\^k \\+ 1"),
    ([M.TableStage(1e9, -1, 1, np.zeros(257))], "too large"),
    ([M.GainStage(200.0)], "too large"),
    ([M.EnvBiasStage(1, 10, 0.1)], "followed by a table"),
    ([M.MixStage(2, 0.5)], "never tapped"),
    ([M.DelayStage(5000)], "whole samples, 0..4095"),
    ([M.BiquadStage(float("nan"), 0, 0, 0, 0)], "b0 is not a finite number"),
])
def test_quantiser_refuses(stages, why):
    with pytest.raises(FitError, match=why):
        quantise(M.PedalModel(stages, 48000))


def test_unsupported_rate():
    with pytest.raises(FitError, match="rate"):
        quantise(M.PedalModel([M.GainStage(0.0)], 1000))


@pytest.mark.parametrize("rate", [48000, 32000])
def test_whole_chain_is_silent_after_a_loud_passage(rate):
    """Table, env bias, tap/mix, tone and dcblock included: no limit cycle above -90 dBFS (the
    quantiser picks an error feedback that lets each section fall silent)."""
    for env in (False, True):
        m = fitted_looking(rate, env=env, mix=env)
        assert idle_floor_dbfs(m, loud_passage(rate)) <= -110.0


def test_table_values_beyond_full_scale_are_scaled_not_clipped():
    """A fitted table may output more than full scale; the quantiser scales it into int16 and
    folds the factor into the next gain, so the device follows the float model."""
    u = np.linspace(-1, 1, 129)
    m = M.PedalModel([M.TableStage(2.0, -1, 1, 3.0 * np.tanh(2 * u)),
                      M.GainStage(-12.0)], 48000)
    qp = quantise(m)
    assert max(abs(int(v)) for v in qp.stages[0].table) > 32000  # uses the int16 range
    x = musical(48000, 24000, seed=4)
    y = simulate_device_float(qp, x)
    ref = simulate_float(m, x)
    assert np.max(np.abs(ref)) > 0.5  # the table's output went beyond 1 before the gain
    assert np.sum((y - ref) ** 2) / np.sum(ref**2) < 1e-6


def _mix_3lf_5hf(rate: int) -> M.PedalModel:
    """A realistic EQ mix: 3 low-frequency sections and 5 high-frequency ones."""
    bas = [rbj("highpass", 40, rate), rbj("lowshelf", 120, rate, gain_db=4),
           rbj("peak", 250, rate, 1.0, -3), rbj("peak", 2000, rate, 1.0, 4),
           rbj("peak", 3500, rate, 1.5, -5), rbj("peak", 6000, rate, 0.8, 3),
           rbj("highshelf", 5000, rate, gain_db=-6), rbj("lowpass", 7000, rate, 0.7)]
    return M.PedalModel([biquad_stage(b, a) for b, a in bas], rate, name="mix")


def _after_a_linear_table(model: M.PedalModel) -> M.PedalModel:
    """``model``'s stages behind an identity table: the same chain, but its first run is no
    longer fed by the converter (quantise.CONVERTER_FED_AFTER)."""
    return M.PedalModel([M.TableStage(1.0, -1, 1, np.linspace(-1, 1, 65)), *model.stages],
                        model.sample_rate, name=model.name)


def test_fast_sections_where_accurate_and_silent(di48, monkeypatch):
    """High-frequency sections get Q12 coefficients (the cheap kernel loop, docs/arithmetic.md
    "Fast sections"); low-frequency ones keep Q26. The cascade stays within ESR 1e-5 and idles
    to exact digital silence after the loud passage, and the cost model charges less for it.
    Behind a table: a run fed by the converter is idle-checked on clipping drives too, where
    fewer sections fall silent as Q12 ones (the mix: 1 instead of 4). In the fitted order:
    after a clipping input these cascades idle near -95 dBFS, above REORDER_BELOW_DBFS, and
    quantise() would reorder them (the order is tested on its own below)."""
    import importlib

    from pedaltool.pedal import cost

    qmod_mod = importlib.import_module("pedaltool.pedal.quantise")  # holds the switch
    monkeypatch.setattr(qmod_mod, "REORDER_RUNS", False)
    for case, bare in (("mix", _mix_3lf_5hf(48000)),
                       ("cascade10", eq_test_models(48000)["cascade10"])):
        model = _after_a_linear_table(bare)
        qp = quantise(model)
        keys = [cost.biquad_cost_key(s.p) for s in qp.stages if s.kind == "biquad"]
        assert keys.count("biquad") >= 3, case  # 40 Hz HP, 120 Hz shelf, 250 Hz peak stay full
        fast = keys.count("biquad_half") + keys.count("biquad_fast")
        assert fast >= 3, (case, keys)
        assert not any(k != "biquad" for k in keys[:2]), case  # never the lowest ones
        assert esr_vs_float(model, di48) <= 1e-5, case
        assert idle_floor_dbfs(model, loud_passage(48000)) <= -200.0, case  # exact silence
        with monkeypatch.context() as mp:
            mp.setattr(qmod_mod, "FAST_SECTIONS", False)
            full = quantise(model)
        assert all(cost.biquad_cost_key(s.p) == "biquad" for s in full.stages
                   if s.kind == "biquad")
        for arch in ("armv6m", "xtensawin"):
            assert cost.cycles_per_sample(qp, arch) < cost.cycles_per_sample(full, arch)
        fed = [cost.biquad_cost_key(s.p) for s in quantise(bare).stages if s.kind == "biquad"]
        assert fed.count("biquad_half") + fed.count("biquad_fast") <= fast, (case, fed)


def _steep_table_model(depth: float, n_tables: int = 1) -> M.PedalModel:
    """An env bias into a steep table (local gain 3.6 at rest, 65 fitted values) and a 20 Hz
    high-pass: the shape of a drive pedal's fit, where the bias decays after a loud note."""
    u = np.linspace(-1, 1, 65)
    vals = 0.6 * (np.tanh(6 * u + 0.5) - np.tanh(0.5))
    tables = [M.TableStage(1.0, -1, 1, vals) for _ in range(n_tables)]
    return M.PedalModel([M.EnvBiasStage(5.0, 300.0, depth), *tables,
                         biquad_stage(*rbj("highpass", 20, 48000))], 48000)


def test_steep_table_gets_a_finer_grid_with_the_same_curve():
    m = _steep_table_model(0.0)
    tq = quantise(m).stages[1].table
    assert len(tq) == 1025  # 64 segments refined 16x (one position unit moves <= ~2 LSB)
    fitted = np.round(m.stages[1].values * 32768)
    assert np.array_equal(tq[::16], fitted)  # the fitted breakpoints, and linear between
    mid = (tq[:-16:16].astype(float) + tq[16::16]) / 2
    assert np.max(np.abs(tq[8::16] - mid)) <= 1.0
    two = quantise(_steep_table_model(0.0, n_tables=2))
    assert [len(s.table) for s in two.stages if s.table is not None] == [513, 513]
    gentle = M.PedalModel([M.TableStage(1.0, -1, 1, 0.001 * np.linspace(-1, 1, 65))], 48000)
    assert len(quantise(gentle).stages[0].table) == 65  # nothing to gain: left as fitted


def test_finer_table_grid_is_what_keeps_a_steep_table_quiet(monkeypatch):
    """The table position has 1/256 of a segment of resolution: on the fitted 64-segment grid
    one unit of a steep table is ~15 LSB of output, so an env bias decaying one unit at a time
    leaves steps that the high-pass turns into a -80 dBFS idle; the refined grid passes."""
    qmod = sys.modules["pedaltool.pedal.quantise"]  # the package exports the function
    x = musical(48000, 48000, seed=3)
    tab_only = _steep_table_model(0.0)
    res = {}
    for total in (64, qmod.TABLE_SEGMENTS_TOTAL):
        monkeypatch.setattr(qmod, "TABLE_SEGMENTS_TOTAL", total)
        y = simulate_device_float(quantise(tab_only), x)
        ref = simulate_float(tab_only, x)
        res[total] = (idle_floor_dbfs(_steep_table_model(-0.3), loud_passage(48000)),
                      np.sum((y - ref) ** 2) / np.sum(ref**2))
    coarse, fine = res[64], res[1024]
    assert fine[0] <= -90.0 < coarse[0]
    assert fine[1] <= 5e-8 < coarse[1]


def _loud_idle_model() -> M.PedalModel:
    """A two-table chain whose fitted pre-EQ order idles at about -79 dBFS: the first table
    rests off zero, a section of the run between the tables is left in a residual cycle of
    +-1 LSB, and the steep second table (gain 20) makes it audible."""
    u = np.linspace(-1, 1, 65)
    eq = [rbj("peak", 110, 48000, 2.0, 0.5), rbj("peak", 3000, 48000, 2.0, 9.0),
          rbj("highpass", 30, 48000, 0.7)]
    return M.PedalModel([M.TableStage(1.0, -1, 1, 0.7 * np.tanh(6 * u + 0.2)),
                         *[biquad_stage(b, a) for b, a in eq],
                         M.TableStage(1.0, -1, 1, 0.8 * np.tanh(20 * u)),
                         biquad_stage(*rbj("highpass", 20, 48000)), M.GainStage(-6.0)], 48000)


def test_reordering_a_run_silences_a_model_that_idles_loudly(monkeypatch):
    """quantise() reorders a run's sections when the model idles loudly (docs/arithmetic.md,
    "Section order"); the same cascade in another order, so the device still follows the
    float model."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    m = _loud_idle_model()
    x = musical(48000, 48000, seed=5)
    ref = simulate_float(m, x)
    with monkeypatch.context() as mp:
        mp.setattr(qmod, "REORDER_RUNS", False)
        fitted = quantise(m)
        assert idle_floor_dbfs(m, loud_passage(48000)) > -90.0  # the fitted order's cycle
    qp = quantise(m)
    assert idle_floor_dbfs(m, loud_passage(48000)) <= -200.0  # exact digital silence
    kinds = [s.kind for s in qp.stages]
    assert kinds == [s.kind for s in fitted.stages]
    assert [s.p for s in qp.stages[1:4]] != [s.p for s in fitted.stages[1:4]]  # reordered
    for q in (fitted, qp):
        y = simulate_device_float(q, x)
        assert np.sum((y - ref) ** 2) / np.sum(ref**2) < 1e-6  # measured 1.8e-7 both


def test_reordering_trials_share_the_runs_quantised_before(monkeypatch):
    """quantise()'s trials reuse the runs already quantised with the same order and error
    feedback weight, and a run whose order is the fitted one (here the one-section run after
    the second table): the same stages as computed afresh, with less work."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    m = _loud_idle_model()
    assert len(qmod._biquad_runs(m.stages)) == 2
    fresh = [qmod._quantise(m, {run: {}}) for run in (0, 1)]
    calls = []
    sections = qmod._quantise_sections
    monkeypatch.setattr(qmod, "_quantise_sections", lambda *a: calls.append(1) or sections(*a))
    done: dict = {}
    base = qmod._quantise(m, {}, True, done)
    assert len(calls) == 2
    for run, want in enumerate(fresh):
        calls.clear()
        trial = qmod._quantise(m, {run: {}}, True, done)
        assert [s.p for s in trial.stages] == [s.p for s in want.stages]
        # the first run's new order is quantised (and the run after it: it now rests at 0,
        # so its weight changes); the second's order is its fitted one: nothing is redone
        assert len(calls) == (2 if run == 0 else 0)
    assert [s.p for s in fresh[0].stages] != [s.p for s in base.stages]
    assert [s.p for s in fresh[1].stages] == [s.p for s in base.stages]


def test_quiet_models_keep_the_fitted_order():
    """A model that idles below REORDER_BELOW_DBFS after every loud input keeps its order; one
    that does not (the 10-section EQ cascade, -90.6 dBFS after the clipped loud passage) is
    reordered only to idle no louder after the worst of them."""
    from pedaltool.pedal.accuracy import idle_levels_dbfs

    qmod = sys.modules["pedaltool.pedal.quantise"]
    m = fitted_looking(48000)
    assert max(idle_levels_dbfs(qmod._quantise(m, {}))) <= qmod.REORDER_BELOW_DBFS
    assert [s.p for s in quantise(m).stages] == [s.p for s in qmod._quantise(m, {}).stages]
    m = eq_test_models(48000)["cascade10"]
    fitted, qp = qmod._quantise(m, {}), quantise(m)
    assert max(idle_levels_dbfs(fitted)) > qmod.REORDER_BELOW_DBFS
    assert [s.p for s in qp.stages] != [s.p for s in fitted.stages]
    assert max(idle_levels_dbfs(qp)) <= max(idle_levels_dbfs(fitted))


def _first_order_highpass(pole: float) -> M.BiquadStage:
    g = (1 + pole) / 2  # unity gain at Nyquist
    return M.BiquadStage(g, -g, 0.0, -pole, 0.0)


def test_error_feedback_counts_the_runs_after_the_table():
    """A run's rounding noise also goes through the later runs (after the table): the error
    feedback is chosen by the noise that reaches the output (the default,
    ``downstream=True``), not only the rest
    of its own run. Here the post-EQ low-passes at 2 kHz, so the pre-EQ's high-pass takes
    K = (1 - z^-1)^2, which moves its noise up there: less error, and (measured) it also
    ends the idle cycle the first-order feedback left."""
    u = np.linspace(-1, 1, 65)
    lp = biquad_stage(*rbj("lowpass", 2000, 48000, 0.7))
    m = M.PedalModel([_first_order_highpass(0.99), M.TableStage(4.0, -1, 1, 0.8 * np.tanh(3 * u)),
                      lp, lp, M.GainStage(-3.0)], 48000)
    x = musical(48000, 48000, seed=5)
    ref = simulate_float(m, x)
    res = {}
    for on in (False, True):
        qp = quantise(m, downstream=on)
        y = simulate_device_float(qp, x)
        res[on] = (qp.stages[0].p[5:], np.sum((y - ref) ** 2) / np.sum(ref**2),
                   idle_tail_dbfs(qp, loud_passage(48000)))
    assert res[False][0] == (-1, 0) and res[True][0] == (-2, 1)
    assert res[True][1] < res[False][1] < 1e-6  # measured 1.58e-7 against 1.62e-7
    assert res[True][2] <= res[False][2]


def test_the_later_runs_weigh_only_where_a_run_rests_at_zero(monkeypatch):
    """The idle check drives a section from zeros; a section after a table that rests off
    zero idles on the table's rest value instead, where a feedback silent from zeros can
    cycle. So the later runs' weight (which may pick such a feedback) applies only to a run
    whose input is 0 in silence. Here the first-order high-pass after the table keeps the
    plain (-1, 0), which comes to rest in the chain; weighed by the low-passes after it, it
    would take (-2, 1), which cycles on the table's rest value."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    u = np.linspace(-1, 1, 65)
    lp = biquad_stage(*rbj("lowpass", 2000, 48000, 0.7))
    m = M.PedalModel([M.TableStage(1.0, -1, 1, 0.7 * np.tanh(6 * u + 0.2)),
                      _first_order_highpass(0.99), M.TableStage(1.0, -1, 1, 0.8 * np.tanh(6 * u)),
                      lp, lp, M.GainStage(-6.0)], 48000)
    x = np.concatenate([float_to_int16(loud_passage(48000)), np.zeros(96000, np.int16)])
    res = {}
    for rests_at_zero in (False, True):
        with monkeypatch.context() as mp:
            if rests_at_zero:  # as if the table rested at 0: the weight applies
                mp.setattr(qmod, "_rests_at_zero", lambda *a: True)
            qp = quantise(m)
        prefix = QuantisedPedal(qp.stages[:2], 48000)  # the table and the high-pass
        res[rests_at_zero] = qp.stages[1].p[5:], simulate(prefix, x)[-12000:]
    assert res[False][0] == quantise(m, downstream=False).stages[1].p[5:] == (-1, 0)
    assert res[False][1].min() == res[False][1].max()  # at rest
    assert res[True][0] == (-2, 1)
    assert res[True][1].min() < res[True][1].max()  # cycles on the table's rest value


def test_the_idle_slack_bounds_the_noise_a_section_takes_to_fall_silent():
    """_ef_pick takes the quietest-idling candidate within ``slack`` (a power ratio) of the
    least noise, else the least-noise one, marked not silent."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    a = np.array(rbj("peak", 3000, 48000, 2.0, 9.0)[1])  # its second candidate: 2.8x
    ranked = qmod._ef_ranked(a / a[0], None)
    least = ranked[0][0]
    # the first candidate between 2x and 4x the least noise, as the only one that idles
    power, k = next((p, kk) for p, kk in ranked if 2.0 * least < p <= 4.0 * least)
    silent = {k}.__contains__
    assert qmod._ef_pick(a / a[0], None, silent, 2.0) == (least, ranked[0][1], False)
    assert qmod._ef_pick(a / a[0], None, silent, 4.0) == (power, k, True)


# the first pre-EQ section of a fitted HM-2 model (2026-12-06): a first-order high-pass
HM2_INPUT_SECTION = (56426496, -56426496, 0, -64667648, 0)


def test_a_clipping_input_is_part_of_the_idle_checks():
    """docs/arithmetic.md "Idle after a clipping input": with the (1 - z^-1)^2 feedback this
    section falls silent after a loud passage, but an input that clips the converter saturates
    it and leaves it cycling by 1 LSB near fs/2 (the steep tables after it made that a 5.5 kHz
    tone at -73 dBFS). The contract's idle measure hears it, and so does the per-section idle
    check with its clipping drives (quantise()'s first retry), not the milder default one;
    with the (1 - z^-1) feedback the section falls silent after every input."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    cycling = HM2_INPUT_SECTION + (-2, 1)
    qp = QuantisedPedal([QStage("biquad", None, cycling)], 48000)
    assert idle_tail_dbfs(qp, loud_passage(48000)) < -200  # exact silence after the mild one
    assert -100 < contract_idle_dbfs(qp) < -85
    assert qmod._idle_silent(cycling) and not qmod._idle_silent(cycling, True)
    silent = HM2_INPUT_SECTION + (-1, 0)
    assert contract_idle_dbfs(QuantisedPedal([QStage("biquad", None, silent)], 48000)) < -200
    assert qmod._idle_silent(silent, True)


def test_a_run_fed_by_the_converter_is_idle_checked_on_its_clipping():
    """The converter clips for real, so the run it feeds takes only error feedbacks that fall
    silent after a clipping drive too: here the HM-2's input section (the same Q26
    coefficients), (1 - z^-1) where behind a table, on milder drives only, it takes the
    quieter (1 - z^-1)^2 that cycles after clipping."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    u = np.linspace(-1, 1, 65)
    lp = biquad_stage(*rbj("lowpass", 2000, 48000, 0.7))
    m = M.PedalModel([_first_order_highpass(0.9636), M.TableStage(4.0, -1, 1, 0.8 * np.tanh(3 * u)),
                      lp, lp, M.GainStage(-3.0)], 48000)
    firsts = [next(s.p for s in quantise(x).stages if s.kind == "biquad")
              for x in (m, _after_a_linear_table(m))]
    assert [p[:5] for p in firsts] == [HM2_INPUT_SECTION] * 2
    assert [p[5:] for p in firsts] == [(-1, 0), (-2, 1)]
    assert qmod._idle_silent(firsts[0], True) and not qmod._idle_silent(firsts[1], True)


def test_a_stricter_idle_check_is_tried_only_while_the_model_idles_above_the_floor(
        monkeypatch):
    """quantise() quantises a model that still idles above the contract's floor again with
    each of its retry idle checks (the clipping drives, a wider slack), and keeps one if the
    model then idles within the floor, or QUIETER_STEP_DB more quietly than the first
    (quieter_trial). Here (reordering off) the cycle comes from the first table's rest value,
    which no error feedback avoids: the retries are made, none idles that much more quietly,
    and the model is the first quantisation's."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    m = _loud_idle_model()
    checks = []
    quantise_once = qmod._quantise
    monkeypatch.setattr(qmod, "REORDER_RUNS", False)
    monkeypatch.setattr(qmod, "_quantise", lambda *a: checks.append(a[4:]) or quantise_once(*a))
    qp = quantise(m)
    assert checks == [(c,) for c in (qmod.DEFAULT_IDLE_CHECK, *qmod.IDLE_RETRIES)]
    assert {(c.slack, c.clipping, c.headroom_db) for c in qmod.IDLE_RETRIES} == {
        (qmod.IDLE_NOISE_SLACK, True, qmod.HEADROOM_DB), (4.0, False, qmod.HEADROOM_DB),
        (4.0, True, qmod.HEADROOM_DB), (qmod.IDLE_NOISE_SLACK, False, 6.0)}
    assert idle_tail_dbfs(qp, loud_passage(48000)) > qmod.IDLE_LIMIT_DBFS
    assert [s.p for s in qp.stages] == [s.p for s in quantise_once(m, {}).stages]
    checks.clear()
    quantise(fitted_looking(48000))  # idles within the floor: nothing retried
    assert checks == [(qmod.DEFAULT_IDLE_CHECK,)]


def _example_naive_model() -> M.PedalModel:
    """The naive model the default fit wrote for the example diode clipper on 2026-12-07 (its
    float model, to 16 digits): a converter-fed peak whose double real pole near 0.965 has no
    error feedback that is both quiet and silent after the sanity check's full-scale input, and
    a 0.9 tanh(3x) table 26 times the section's level at its input: 78 LSB out per LSB in at
    rest."""
    u = np.linspace(-1, 1, 65)
    return M.PedalModel([
        M.DelayStage(1),
        M.BiquadStage(0.9682153450271134, -1.9303768237136438, 0.9621799661220639,
                      -1.9303768237136438, 0.9303953111491774),
        M.TableStage(25.97177827721381, -1.0, 1.0, 0.9 * np.tanh(3 * u) / np.tanh(3),
                     knob="drive", knob_min_db=-12, knob_max_db=12),
        M.BiquadStage(0.9997672480990237, -1.9925904814696436, 0.9928328847911516,
                      -1.9925904814696436, 0.9926001328901753),
        M.ToneStage(800.0, 12.0),
        M.GainStage(-14.380279938079994, knob="level", knob_min_db=-18, knob_max_db=18)], 48000)


def test_more_headroom_is_the_last_idle_retry():
    """The example's naive model idles at -88.2 dBFS after the sanity check's full-scale
    input whatever the error feedback's slack or drives (its section's only silent feedback,
    (1 - z^-1), is 6.5x noisier): quantised with 6 dB of headroom instead of 1.5 its section
    comes to rest, and the model idles within the contract's floor, the rounding noise while
    playing about twice as high and still within the contract's 1e-5."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    m = _example_naive_model()
    orders = {0: {}, 1: {}}
    levels = {c: qmod._quantise_reordered(m, True, c, {}, orders)[1]
              for c in (qmod.DEFAULT_IDLE_CHECK, *qmod.IDLE_RETRIES)}
    assert [c for c, lv in levels.items() if lv <= qmod.IDLE_LIMIT_DBFS] == [
        qmod.IdleCheck(headroom_db=6.0)]
    qp = quantise(m)
    assert contract_idle_dbfs(qp) <= qmod.IDLE_LIMIT_DBFS
    first = qmod._quantise(m, {})
    # the section runs 4.5 dB lower: the table's input gain makes up for it
    g_first, g = (next(s.p[1] / 2 ** s.p[2] for s in q.stages if s.kind == "table")
                  for q in (first, qp))
    assert g / g_first == pytest.approx(10 ** (4.5 / 20), rel=0.02)
    x = signals.evaluation_di(48000, 4.0)
    assert esr_vs_float(m, x, qp=first) < esr_vs_float(m, x, qp=qp) <= 1e-5


def test_a_retry_that_idles_much_more_quietly_is_kept_though_above_the_floor(monkeypatch):
    """None of the trials meets the floor: the first retry (in the order tried, each trading
    more rounding noise while playing) that idles QUIETER_STEP_DB or more below the first
    trial is taken (a Splawn fit: -68.7 dBFS, its clipping-drive retry -87.4), else the
    first trial, whose rounding noise while playing is the least."""
    qmod = sys.modules["pedaltool.pedal.quantise"]
    pick = qmod.quieter_trial
    # not the quietest: a wider slack 0.1 dB quieter is not worth its noise
    assert pick([("first", -68.7), ("clip", -87.4), ("slack", -68.7), ("both", -87.5)]) == "clip"
    assert pick([("first", -68.7), ("clip", -70.0), ("slack", -75.0), ("both", -90.0)]) == \
        "slack"
    assert pick([("first", -85.0), ("clip", -87.0), ("slack", -85.5)]) == "first"
    assert pick([("first", -85.0), ("clip", -85.0 - qmod.QUIETER_STEP_DB)]) == "clip"
    assert pick([("first", -80.0), ("clip", -80.0)]) == "first"
    assert pick([("first", -70.0)]) == "first"
    # and quantise() hands it its trials when none meets the floor
    levels = iter([-68.7, -87.4, -68.7, -87.5, -70.0])
    made = []

    def trial(model, downstream, idle, done, orders):
        made.append(idle)
        return f"model {len(made)}", next(levels)

    monkeypatch.setattr(qmod, "_quantise_reordered", trial)
    assert quantise(fitted_looking(48000)) == "model 2"
    assert made == [qmod.DEFAULT_IDLE_CHECK, *qmod.IDLE_RETRIES]


def _gain_db(y: np.ndarray, ref: np.ndarray) -> float:
    """Level of y over ref in dB, after the first 0.1 s (the filters' start)."""
    from pedaltool.audio import rms_dbfs

    return rms_dbfs(y[4800:]) - rms_dbfs(ref[4800:])


def test_each_knob_does_what_its_name_says_on_the_device():
    """Level moves the output by its range in dB; drive moves the table's input gain by its
    range (a linear table shows it as the output level); tone tilts: treble up and bass down
    at 1, the reverse at 0. Device-exact, knobs at 0, 0.5 and 1."""
    rate = 48000
    t = np.arange(rate) / rate
    quiet = 0.01 * np.sin(2 * np.pi * 440 * t)
    level = quantise(M.PedalModel([M.GainStage(0.0, knob="level", knob_min_db=-18,
                                               knob_max_db=18)], rate))
    linear = np.linspace(-1.0, 1.0, 257)
    drive = quantise(M.PedalModel([M.TableStage(1.0, -1.0, 1.0, linear, knob="drive",
                                                knob_min_db=-12, knob_max_db=12)], rate))
    for qp, name, lo, hi in ((level, "level", -18, 18), (drive, "drive", -12, 12)):
        mid = simulate_device_float(qp, quiet)
        assert _gain_db(simulate_device_float(qp, quiet, {name: 0.5}), mid) == 0.0
        assert _gain_db(simulate_device_float(qp, quiet, {name: 0.0}), mid) == \
            pytest.approx(lo, abs=0.05), name
        assert _gain_db(simulate_device_float(qp, quiet, {name: 1.0}), mid) == \
            pytest.approx(hi, abs=0.05), name
    tone = quantise(M.PedalModel([M.ToneStage(900.0, 12.0)], rate))
    bass, treble = (0.1 * np.sin(2 * np.pi * f * t) for f in (60.0, 12000.0))
    for knob, sign in ((1.0, 1), (0.0, -1)):
        for x, band_sign in ((treble, 1), (bass, -1)):
            g = _gain_db(simulate_device_float(tone, x, {"tone": knob}),
                         simulate_device_float(tone, x))
            # most of +-6 dB (a one-pole split at 900 Hz leaks a little of the other band)
            assert sign * band_sign * g > 4.0, (knob, band_sign, g)


def test_the_idle_in_the_audio_band_leaves_out_dc_but_not_a_tone():
    """idle_tail_levels_dbfs: one simulation, two readings. A table resting off zero
    idles at a DC offset, loud in the contract's figure (DC included) and silent within
    20 Hz-20 kHz; a 1 kHz tone still coming out of a delay reads the same in both."""
    xs = np.linspace(-1.0, 1.0, 65)
    dc = M.PedalModel([M.TableStage(1.0, -1.0, 1.0, 0.5 * np.tanh(2 * xs) + 0.01)], 48000)
    full, band = idle_tail_levels_dbfs(quantise(dc), np.zeros(4800))
    assert full == pytest.approx(20 * np.log10(0.01), abs=0.5)
    assert band < -120
    assert idle_tail_dbfs(quantise(dc), np.zeros(4800)) == full
    late = M.PedalModel([M.DelayStage(4000)], 48000)
    tone = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(4800) / 48000)
    full, band = idle_tail_levels_dbfs(quantise(late), tone, silence_s=4000 / 48000,
                                       measure_s=0.05)
    assert full == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.1)
    assert band == pytest.approx(full, abs=0.5)


def test_a_tone_range_the_firmware_cannot_play_is_refused():
    """The quantiser took |range_db| and capped it at 12 dB: at tone 0 a -6 dB range boosted
    on the device where the float model cut (ESR 0.22 between them; a review)."""
    from pedaltool.pedal.model import PedalModel, ToneStage, check_model

    for bad in (-6.0, 20.0):
        model = PedalModel([ToneStage(800.0, bad)], sample_rate=48000)
        assert check_model(model) == f"stage 0: tone range {bad:g} dB is outside 0..12"
        with pytest.raises(FitError, match="tone range"):
            quantise(model)
    assert check_model(PedalModel([ToneStage(800.0, 12.0)], sample_rate=48000)) is None


def test_a_delay_longer_than_the_signal_leaves_it_silent():
    from pedaltool.pedal.model import DelayStage, PedalModel, simulate_float

    y = simulate_float(PedalModel([DelayStage(100)], sample_rate=48000), np.ones(40))
    assert len(y) == 40 and not y.any()


@pytest.mark.parametrize("env", [False, True])
def test_a_table_is_refined_only_as_far_as_its_input_gain_allows(env):
    """The grid refinement doubled a steep table's segments to 1024 whatever its input gain,
    which grows with them: in_gain 1200 with a +12 dB drive range then failed as "too large"
    though its fitted 64 segments quantised (a review). It stops at the finest grid that fits,
    and the env bias, in table units, is quantised on the same grid."""
    from pedaltool.pedal.quantise import table_grid_limit

    u = np.linspace(-1, 1, 65)
    table = M.TableStage(1200.0, -1, 1, np.tanh(4 * u), "drive", -12.0, 12.0)
    stages = ([M.EnvBiasStage(1.0, 20.0, 0.2)] if env else []) + [table, M.GainStage(-20.0)]
    qp = quantise(M.PedalModel(stages, 48000))
    qt = next(s for s in qp.stages if s.kind == "table")
    log2n, gm, gs = qt.p[:3]
    assert 6 < log2n == table_grid_limit(table, 1200.0, 10) < 10  # refined, not to 1024
    assert gs >= 2 and abs(gm) <= 65000
    x = float_to_int16(0.5 * np.sin(np.arange(4800) / 7.0))
    for knobs in (None, {"drive": 1.0}, {"drive": 0.0}):
        y = simulate(qp, x, knobs)
        assert np.array_equal(y, simulate(qp, x, knobs, engine="reference"))


@pytest.mark.parametrize("stage, why", [
    (M.GainStage(float("nan")), "stage 0: gain: gain_db is not a finite number"),
    (M.GainStage(0.0, "level", float("-inf"), 6.0), "knob_min_db is not a finite number"),
    (M.ToneStage(-100.0), r"tone: -100 Hz is outside 0..24000 Hz"),
    (M.DcBlockStage(30000.0), r"dcblock: 30000 Hz is outside 0..24000 Hz"),
    (M.DelayStage(2.7), "delay: 2.7 samples; the firmware delays by whole samples"),
    (M.GainStage(0.0, "level", 6.0, -6.0), r"level knob's range runs backwards \(6 to -6 dB\)"),
])
def test_parameters_that_are_not_numbers_or_mean_nothing_are_refused_by_name(stage, why):
    """A NaN or infinite parameter raised "ValueError: cannot convert float NaN to integer"
    (or OverflowError) from the quantiser, a negative tone crossover made an unstable float
    model and c = 1 on the device, and a delay of 2.7 samples was cut to 2 (a review)."""
    with pytest.raises(FitError, match=why):
        quantise(M.PedalModel([stage], 48000))


def test_more_stages_than_the_firmware_reads_is_a_fit_error():
    """65 stages passed the quantiser's checks and raised the reader's ValueError from
    simulate, which the fitter does not catch (a review)."""
    stages = [M.GainStage(0.0)] * 62 + [M.BiquadStage(1.0, 0.0, 0.0, 0.0, 0.0)] * 3
    with pytest.raises(FitError, match="stages; the firmware reads at most 64"):
        quantise(M.PedalModel(stages, 48000))


def test_the_model_s_delay_limit_is_the_firmware_s():
    from pedaltool.pedal._fw import fw_module

    assert M.MAX_DELAY == fw_module("pedalfile").MAX_DELAY
