"""Structure flavours: budget growth, what they compile to, and the per-capture choice."""

import numpy as np
import pytest
from fit_helpers import RATE, WienerHammerstein
from pedaltool.fit import api, core
from pedaltool.fit import structure as S
from pedaltool.fit.convert import stage_kinds, to_pedal_model


@pytest.fixture(scope="module")
def probed():
    """A probe and a short excitation of a synthetic WH system (no NAM rendering)."""
    oracle = WienerHammerstein()
    pr = core.probe(oracle, RATE)
    x = core.excitation.fitting_signal(RATE, 1.0, seed=3, play_s=1.0)
    return pr, x


@pytest.mark.parametrize("flavour", S.ALL_FLAVOURS)
def test_every_flavour_fits_the_default_budget_and_compiles_to_its_stage_list(flavour, probed):
    st = S.grow(flavour, S.DEFAULT_BUDGET)
    assert st is not None and S.flavour_of(st.name) == flavour
    assert S.cost_cycles(st) <= S.DEFAULT_BUDGET
    pr, x = probed
    bm = core.initial_model(st, pr, x, 0.5, -1.0)
    assert len(bm.stages) == len(st.pre)
    if st.mix:  # the fit gives the parallel path its gain; the initial model starts at 0
        bm.mix_gain = 0.1
    for stage in bm.stages if st.env else ():  # the long fit releases the envelopes
        stage.env_depth = core.ENV_START
    # the cost model charges exactly the stages the converter emits
    assert stage_kinds(bm) == st.stage_types()
    y = core.simulate(bm, x)
    assert np.all(np.isfinite(y)) and np.std(y) > 0


@pytest.mark.parametrize("flavour", ["wh2+env", "wh3", "wh2+cab"])
def test_new_flavours_quantise_within_their_float_cost(flavour, probed):
    """Quantised sections may take the cheaper Q12 kernels, never a dearer one."""
    from pedaltool.pedal import cost, quantise

    st = S.grow(flavour, S.DEFAULT_BUDGET)
    pr, x = probed
    qp = quantise(to_pedal_model(core.initial_model(st, pr, x, 0.5, -1.0)))
    assert cost.cycles_per_sample(qp) <= S.cost_cycles(st)


def test_growth_follows_the_budget():
    small, large = S.grow("wh", 700), S.grow("wh", S.DEFAULT_BUDGET)
    assert small.biquads < large.biquads
    assert S.cost_cycles(small) <= 700
    assert S.grow("wh3", 300) is None
    # a cab flavour spends the budget on the post-EQ
    assert len(S.grow("wh2+cab", S.DEFAULT_BUDGET).post) > len(S.grow("wh2", S.DEFAULT_BUDGET).post)
    with pytest.raises(ValueError):
        S._make("nope", 1, 1)


def test_a_saturating_capture_under_its_structures_budget_gets_the_one_table_ones():
    """The two-table structures of a saturating capture need more than the one-table ones:
    a budget between the two tries those (it was refused after the probe, "no structure fits
    a budget of 700 ... the smallest needs 565"); below them the naive baseline alone is
    fitted (no structure), each said in a note."""
    from types import SimpleNamespace

    saturating = SimpleNamespace(saturating=True)  # (what core.is_saturating reads first)
    two = S.smallest_cycles(flavours=S.SATURATING_FLAVOURS)
    assert S.smallest_cycles(flavours=S.FLAVOURS) == S.smallest_cycles() < two

    def tried(budget: float, **kw) -> tuple[list[str], list[str]]:
        said: list[str] = []
        structs = api.structures_for(api.FitConfig(budget=budget, **kw), saturating, "x",
                                     said.append)
        return [st.name for st in structs], [s for s in said if s.startswith("note:")]

    names, notes = tried(two - 1)
    assert names and all(S.flavour_of(n) in S.FLAVOURS for n in names), names
    assert len(notes) == 1 and f"need {two:.0f} cycles/sample or more" in notes[0]
    assert tried(two) == (["wh2+cab-0/0"], [])
    names, notes = tried(S.smallest_cycles() - 1)
    assert names == [] and len(notes) == 1 and "fits only the naive baseline" in notes[0]
    # flavours asked for by name are not swapped for others
    names, notes = tried(two - 1, flavours=S.SATURATING_FLAVOURS)
    assert names == [] and "fits only the naive baseline" in notes[0]
    # the progress names the flavours tried once they are chosen (it named the saturating
    # ones, then a note took them back: a review), and none when the baseline alone is
    for budget, line in ((two, S.SATURATING_FLAVOURS), (two - 1, S.FLAVOURS),
                         (S.smallest_cycles() - 1, None)):
        said: list[str] = []
        api.structures_for(api.FitConfig(budget=budget), saturating, "x", said.append)
        assert [s for s in said if s.startswith("structures tried")] == (
            [f"structures tried: {', '.join(line)}"] if line else []), (budget, said)


def test_larger_is_what_a_larger_budget_grows():
    """structure.larger: one section more, exactly the structure grow() makes at the budget
    that first holds it, for every flavour and size up to the caps; envelopes and the clean
    path are kept; nothing at the caps or for the baseline."""
    for flavour in S.ALL_FLAVOURS:
        st = S.grow(flavour, S.cost_cycles(S._make(flavour, 1, 0)))
        steps = 0
        while (big := S.larger(st)) is not None:
            steps += 1
            assert big.biquads == st.biquads + 1
            grown = S.grow(flavour, S.cost_cycles(big))
            assert (big.name, big.pre, big.post) == (grown.name, grown.pre, grown.post)
            assert (big.env, big.mix, big.knots, big.inner_knots) == (
                st.env, st.mix, st.knots, st.inner_knots)
            st = big
        cap_pre, cap_post = S.CAPS.get(flavour, (3, 8))
        assert S.sizes(st) == (cap_pre, cap_post) and steps > 3, (flavour, st.name)
    env = S.with_envelope(S.grow("wh+mix", S.DEFAULT_BUDGET), 1e9)
    big = S.larger(env)
    assert big.name == "wh+mix+env-3/6" and big.env and big.mix
    assert big.pre == env.pre and big.post == env.post[:-1] + ["peak", "lp2"]
    assert S.larger(S.baseline_structure()) is None


def test_multi_stage_flavours_put_a_coupling_high_pass_between_tables():
    st = S.grow("wh3", S.DEFAULT_BUDGET)
    assert len(st.pre) == 3 and all(p[0] == "hp1" for p in st.pre)
    env = S.grow("wh2+env", S.DEFAULT_BUDGET)
    assert env.env and env.stage_types().count("env_bias") == 2


def _probe_with_gains(gains_db):
    grid = np.geomspace(30, 18000, 8)
    levels = [0.002, 0.02, 0.08, 0.25]
    return core.Probe(RATE, 0.0, 4, levels, grid, [np.zeros(8)] * 4, list(gains_db), 0.3,
                      -200.0)


def test_saturating_captures_get_multi_stage_flavours_and_one_restart():
    sat = _probe_with_gains([15.4, -1.3, -15.8, -24.1])  # the AC15 at 12 dBu: 39.5 dB
    mild = _probe_with_gains([9.2, 7.1, 1.8, -2.7])  # the Klon: 11.9 dB
    assert core.compression_db(sat) == pytest.approx(39.5)
    assert core.flavours_for(sat) == S.SATURATING_FLAVOURS
    assert core.flavours_for(mild) == S.FLAVOURS
    assert core.restarts_for(sat) == core.SATURATING_RESTARTS
    assert core.restarts_for(mild) == core.RESTARTS
    assert core.restarts_for(sat, naive=True) == core.RESTARTS  # the baseline: every restart
    # the default effort spends its time on the saturating capture's one dataset; the naive
    # baseline is fitted with the same iterations (api.baseline_scores uses _nfev too)
    normal = api.FitConfig()
    assert api._nfev(normal, sat) == (6, api.SATURATING_LONG_ITERATIONS)
    assert api._nfev(normal, mild) == (6, 12) and api.SATURATING_LONG_ITERATIONS > 12
    assert api._nfev(api.FitConfig(effort="thorough"), sat) == (6, 24)


def test_with_envelope_keeps_the_eq_and_respects_the_budget():
    wh = S.grow("wh", S.DEFAULT_BUDGET)
    env = S.with_envelope(wh, S.DEFAULT_BUDGET)
    assert env.name == "wh+env-" + wh.name.split("-")[1] and env.env and not env.mix
    assert env.pre == wh.pre and env.post == wh.post and env.pre is not wh.pre
    assert S.cost_cycles(wh) < S.cost_cycles(env) <= S.DEFAULT_BUDGET
    assert S.with_envelope(wh, S.cost_cycles(env) - 1) is None  # over the budget
    assert S.with_envelope(env, 1e9) is None  # has envelopes already
    mix = S.with_envelope(S.grow("wh+mix", S.DEFAULT_BUDGET), 1e9)
    assert mix.name.startswith("wh+mix+env-") and mix.mix and mix.env
    # at the default budget only the plain wh has room for the envelopes (docs/fitting.md,
    # Method step 5): the others are grown to the budget, dispatch included
    for flavour in ("wh+mix", "wh2+cab", "wh3"):
        assert S.with_envelope(S.grow(flavour, S.DEFAULT_BUDGET), S.DEFAULT_BUDGET) is None
    assert S.with_envelope(S.baseline_structure(), 1e9) is None


def test_primed_initial_eqs_give_the_same_starts_without_fitting_again(probed, monkeypatch):
    """A fit computes its initial EQ cascades once (core.initial_eqs) and each worker primes
    its memo with them: the quick fits must then start from the same models, bit for bit,
    without a single cascade fit of their own."""
    pr, x = probed
    structs = [S.grow(f, S.DEFAULT_BUDGET) for f in ("wh", "wh+mix", "wh2+cab")]
    restarts = ((-1.0, 0.5), (0.5, 0.5))
    core._SECTION_CACHE.clear()
    eqs = {k: v for st in structs for k, v in core.initial_eqs(st, pr, restarts).items()}
    fresh = [core.initial_model(st, pr, x, d, split) for st in structs for split, d in restarts]
    core._SECTION_CACHE.clear()  # a new worker process
    core.prime_initial_eqs(eqs)

    def no_fit(*args, **kwargs):
        raise AssertionError("an initial EQ was fitted again")

    monkeypatch.setattr(core.linear, "fit_cascade_db", no_fit)
    primed = [core.initial_model(st, pr, x, d, split) for st in structs for split, d in restarts]
    for a, b in zip(fresh, primed, strict=True):
        for sa, sb in zip(a.post + a.stages[0].pre, b.post + b.stages[0].pre, strict=True):
            assert sa.kind == sb.kind and np.array_equal(sa.params, sb.params)
        assert a.stages[0].in_gain == b.stages[0].in_gain


def test_an_initial_eq_is_never_the_one_fitted_for_another_target(probed):
    """The initial EQ fits are memoised per process. A target equal to one fitted before to
    six decimals (dB) but not to the bit got that one's sections: in the benchmark's draws
    (renders 2^-24 apart) a fit's result depended on what the process had fitted before
    it, once a fit ran an EQ fit in the parent process (2026-12-07)."""
    pr, _ = probed
    pre_db, _, w = core._eq_targets(pr, 0.5)
    kinds = ["hp1", "peak", "peak", "peak"]
    t0 = np.round(pre_db, 6)
    t1 = t0 + 2e-7 * np.linspace(-1.0, 1.0, len(t0))  # the same to six decimals, a tilt

    def fit(t):
        return [s.params.tolist() for s in core._sections_fit(t, pr.grid_hz, kinds, pr.rate_hz, w)]

    core._SECTION_CACHE.clear()
    fresh = fit(t1)
    core._SECTION_CACHE.clear()
    first = fit(t0)
    assert first != fresh  # (so that the memo's mistake would show)
    assert fit(t1) == fresh and fit(t0) == first  # each its own, memoised or not
    core._SECTION_CACHE.clear()


def test_the_converted_model_carries_the_three_knobs(probed):
    """drive on the first table's input gain, tone after the post-EQ, level on the last gain,
    with the default ranges (the fitter narrows them only if the sanity check asks)."""
    from pedaltool.fit.convert import DRIVE_RANGE_DB, LEVEL_RANGE_DB

    pr, x = probed
    for flavour in ("wh", "wh2+cab"):
        pm = to_pedal_model(core.initial_model(S.grow(flavour, S.DEFAULT_BUDGET), pr, x, 0.5,
                                               -1.0))
        kinds = [s.kind for s in pm.stages]
        tables = [s for s in pm.stages if s.kind == "table"]
        assert tables[0].knob == "drive" and all(t.knob is None for t in tables[1:])
        assert (tables[0].knob_min_db, tables[0].knob_max_db) == DRIVE_RANGE_DB
        last = pm.stages[-1]
        assert (last.kind, last.knob, (last.knob_min_db, last.knob_max_db)) == (
            "gain", "level", LEVEL_RANGE_DB)
        assert kinds.count("tone") == 1
        assert kinds.index("tone") > max(i for i, k in enumerate(kinds) if k == "biquad")
