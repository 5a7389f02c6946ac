"""The post-EQ's polish (fit/postpolish.py, core.polish_post): general biquads refined by output
error. The oracle's post-EQ has a section whose zeros lie outside the unit circle, as a miked
cabinet's do, and the start is its minimum-phase mirror: the same magnitude response, which the
parametric sections can match, and the wrong phase, which only freed zeros can."""

import copy
import dataclasses

import numpy as np
import pytest
from fit_helpers import known_model
from pedaltool import signals
from pedaltool.fit import api, core, linear, postpolish
from pedaltool.fit.blocks import Section, cascade_sos, post_input, section_sos, simulate
from pedaltool.fit.metrics import esr
from pedaltool.fit.structure import Structure
from scipy import signal

RATE = 48000


def _section(zeros, poles, gain=1.0) -> Section:
    b = gain * np.real(np.poly(zeros))
    a = np.real(np.poly(poles))
    return Section("biquad", np.array([b[0], b[1], b[2], a[1], a[2]]))


def _non_minimum_phase() -> tuple[Section, Section]:
    """(a section with both zeros outside the unit circle, its minimum-phase mirror: the same
    magnitude response at every frequency)."""
    zeros = 1.25 * np.exp(np.array([1j, -1j]) * 2 * np.pi * 1800 / RATE)
    poles = 0.93 * np.exp(np.array([1j, -1j]) * 2 * np.pi * 900 / RATE)
    mirror = 1 / np.conj(zeros)
    return _section(zeros, poles), _section(mirror, poles, gain=1.25 ** 2)


def _zeros(s: Section) -> np.ndarray:
    return np.roots(s.sos(RATE)[:3])


def test_the_mirror_has_the_same_magnitude_and_another_waveform():
    """The premise: no magnitude fit can tell the two apart, the waveform can."""
    true, mirror = _non_minimum_phase()
    _, h_true = signal.sosfreqz(true.sos(RATE)[None, :], worN=512)
    _, h_mirror = signal.sosfreqz(mirror.sos(RATE)[None, :], worN=512)
    assert np.allclose(np.abs(h_true), np.abs(h_mirror), rtol=1e-9)
    v = signals.fitting_di(RATE, 0.5, seed=5).astype(np.float64)
    assert esr(signal.sosfilt(mirror.sos(RATE), v), signal.sosfilt(true.sos(RATE), v)) > 0.1


@pytest.fixture(scope="module")
def playing():
    v = np.random.default_rng(3).standard_normal(RATE // 2) * 0.1
    return v


def test_the_polish_finds_zeros_outside_the_unit_circle(playing):
    true, mirror = _non_minimum_phase()
    hp = Section("hp2", np.array([np.log2(25.0), -0.5]))
    y = signal.sosfilt(cascade_sos([hp, true], RATE), playing)
    start = cascade_sos([hp, mirror], RATE)
    assert esr(signal.sosfilt(start, playing), y) > 0.1
    sos = postpolish.polish_post(start, playing, y, held=(0,))
    assert esr(signal.sosfilt(sos, playing), y) < 1e-6
    assert np.array_equal(sos[0], start[0])  # held: the high-pass keeps its zeros at DC
    assert np.all(np.abs(np.roots(sos[1, :3])) > 1.0)


def test_no_pole_passes_the_radius_even_where_the_truth_has_one(playing):
    f = 2 * np.pi * 60 / RATE
    true = _section([0.5, -0.5], 0.9999 * np.exp(np.array([1j, -1j]) * f))
    start = _section([0.5, -0.5], 0.99 * np.exp(np.array([1j, -1j]) * f))
    y = signal.sosfilt(true.sos(RATE), playing)
    sos = postpolish.polish_post(start.sos(RATE)[None, :], playing, y)
    assert postpolish.pole_radii(sos)[0] < postpolish.POLE_RADIUS_MAX
    assert esr(signal.sosfilt(sos, playing), y) < esr(signal.sosfilt(start.sos(RATE), playing),
                                                       y)


def test_a_held_section_beyond_the_radius_does_not_stop_the_polish(playing):
    """A fitted 10 Hz high-pass at Q 4 has its poles at 0.99984, beyond POLE_RADIUS_MAX: the
    check is on the freed sections only."""
    hp = Section("hp2", np.array([np.log2(10.0), 2.0]))
    assert postpolish.pole_radii(hp.sos(RATE)[None, :])[0] > postpolish.POLE_RADIUS_MAX
    true, mirror = _non_minimum_phase()
    y = signal.sosfilt(cascade_sos([hp, true], RATE), playing)
    sos = postpolish.polish_post(cascade_sos([hp, mirror], RATE), playing, y, held=(0,))
    assert esr(signal.sosfilt(sos, playing), y) < 1e-6


def test_the_jacobian_is_the_derivative(playing):
    true, mirror = _non_minimum_phase()
    sos = cascade_sos([Section("peak", np.array([np.log2(300.0), 4.0, 0.0])), true, mirror], RATE)
    v = playing[:4000]
    w = np.linspace(0.5, 2.0, len(v))[::3]
    jac = postpolish._jacobian(sos, [0, 2], v, signal.sosfilt(sos, v), slice(None, None, 3), w)
    h = 1e-7
    for col, (k, c) in enumerate((k, c) for k in (0, 2) for c in (0, 1, 2, 4, 5)):
        up, down = sos.copy(), sos.copy()
        up[k, c] += h
        down[k, c] -= h
        fd = (signal.sosfilt(up, v) - signal.sosfilt(down, v))[::3] * w / (2 * h)
        assert np.allclose(jac[:, col], fd, rtol=1e-5, atol=1e-6 * np.max(np.abs(fd))), (k, c)


def test_a_weight_of_zero_ignores_a_corrupted_segment(playing):
    true, mirror = _non_minimum_phase()
    y = signal.sosfilt(true.sos(RATE), playing)
    bad = y.copy()
    bad[len(y) // 2:] = np.random.default_rng(9).standard_normal(len(y) - len(y) // 2)
    w = np.ones(len(y))
    w[len(y) // 2:] = 0.0
    sos = postpolish.polish_post(mirror.sos(RATE)[None, :], playing, bad, weight=w)
    assert esr(signal.sosfilt(sos, playing), y) < 1e-6


def test_a_general_section_is_its_own_coefficients_and_is_never_refined():
    s = Section("biquad", np.array([0.5, -0.2, 0.1, -1.1, 0.4]))
    assert np.array_equal(section_sos("biquad", s.params, RATE), [0.5, -0.2, 0.1, 1.0, -1.1, 0.4])
    with pytest.raises(ValueError, match="polished"):
        linear.section_bounds(s, RATE)


@pytest.fixture(scope="module")
def candidate_and_data():
    """(a candidate whose post-EQ has the mirror where the truth has the cabinet-like section,
    the truth's dataset: 1 s of playing, then a synthetic part, and other playing to validate)."""
    true, mirror = _non_minimum_phase()
    truth = known_model()
    truth.post = truth.post + [true]
    start = copy.deepcopy(truth)
    start.post[-1] = mirror
    x = signals.fitting_di(RATE, 1.0, seed=777).astype(np.float64) * 1.5
    noise = np.random.default_rng(1).standard_normal(RATE // 2) * 0.05
    xf = np.concatenate([x, noise])
    xv = signals.fitting_di(RATE, 1.0, seed=4242).astype(np.float64) * 1.5
    ds = core.Dataset(xf, simulate(truth, xf), xv, simulate(truth, xv), n_play=len(x))
    st = Structure("wh-3/5", [["hp1", "peak", "peak"]], ["hp2", "peak", "peak", "lp2", "peak"])
    e, ep = core.score(start, xv, ds.y_val)
    return core.Candidate(st, start, e, ep, 0.0, ["fitted"]), ds, truth


def test_a_candidate_is_polished_when_it_validates_better(candidate_and_data):
    c, ds, truth = candidate_and_data
    p = core.polish_post(c, ds)
    assert p is not None and p.crit < 1e-3 < c.crit
    assert p.log[:-1] == c.log and "post-EQ zeros set free" in p.log[-1]
    assert p.model.post[0] is c.model.post[0]  # the hp2 is held
    assert [s.kind for s in p.model.post[1:]] == ["biquad"] * 4
    assert np.all(np.abs(_zeros(c.model.post[-1])) < 1)  # the start: minimum-phase
    # non-minimum-phase now (the start's zeros are all within the unit circle, the lp2's on it)
    assert np.all(np.abs(np.concatenate([_zeros(s) for s in c.model.post])) < 1 + 1e-6)
    assert np.any(np.abs(np.concatenate([_zeros(s) for s in p.model.post])) > 1.05)
    # everything before the post-EQ is c's
    assert np.array_equal(post_input(p.model, ds.x_val), post_input(c.model, ds.x_val))
    assert p.dataset == c.dataset and p.structure is c.structure
    # and it says so where the written model is described (the result table, the JSON)
    assert p.polished and not c.polished
    assert p.notes == c.structure.notes + core.POLISHED_NOTE and c.notes == c.structure.notes


def test_a_polish_is_validated_by_validation_score(candidate_and_data, monkeypatch):
    """The polish's validation is ``core.validation_score``'s, with the dataset's weights
    (b908580), as every other candidate's."""
    c, ds, _ = candidate_and_data
    weighted = dataclasses.replace(ds, val_weight=np.linspace(1.0, 2.0, len(ds.x_val)))
    seen = []

    def tagged(model, d):
        seen.append(d.val_weight)
        return 1e-9, 1e-9

    monkeypatch.setattr(core, "validation_score", tagged)
    p = core.polish_post(c, weighted)
    assert p is not None and (p.val_esr, p.val_esr_pre) == (1e-9, 1e-9)
    assert seen and all(w is weighted.val_weight for w in seen)


def test_a_polish_that_validates_worse_is_refused(candidate_and_data):
    """Validated on the mirror's own output (c's model, its 0.3 dB louder post-EQ aside), the
    polish toward the fitting signal's cabinet-like section validates worse: None."""
    c, ds, _ = candidate_and_data
    y_val = simulate(c.model, ds.x_val) * 10 ** (0.3 / 20)
    other = core.Dataset(ds.x_fit, ds.y_fit, ds.x_val, y_val, n_play=ds.n_play)
    e, ep = core.score(c.model, ds.x_val, y_val)
    near = core.Candidate(c.structure, c.model, e, ep, 0.0, [])
    assert 0 < near.crit < 3e-3
    assert core.polish_post(near, other) is None
    assert core.polish_post(near, ds) is not None  # the same polish, validated on its truth


def test_polished_finalists_are_ranked_before_their_sources(candidate_and_data):
    c, ds, truth = candidate_and_data
    e, ep = core.score(truth, ds.x_val, ds.y_val)
    exact = core.Candidate(c.structure, truth, e, ep, 0.0, [])  # nothing to gain: kept alone
    base = core.Candidate(c.structure, c.model, 0.5, 0.5, 0.0, [])
    said = []
    got = api.with_polished([exact, c, base], base, lambda _: ds, said.append)
    assert len(got) == 4 and got[0] is exact and got[2:] == [c, base]
    assert got[1].model.post[-1].kind == "biquad" and got[1].crit < c.crit
    # the best polished one, polished further: one polished model per source
    assert "post-EQ zeros set free" in got[1].log[-2]
    assert "post-EQ polished further" in got[1].log[-1] and said[-1] == got[1].log[-1]
    once = core.polish_post(c, ds)
    assert got[1].crit < once.crit and got[1].log[:-1] == once.log
    # the naive structure is written as it was fitted
    assert api.with_polished([base], base, lambda _: ds, said.append) == [base]
    # the report's candidates list the polished one apart from its source
    chosen = api.Chosen(got[1], None, None, True, "", [], -240.0)  # the polished one written
    rows = api.candidate_rows([], [r for r in got if r is not base], base, "armv6m", chosen)
    assert [r["stage"] for r in rows] == ["final", "polished", "final", "final"]
    assert rows[1]["val_esr"] == got[1].val_esr and rows[2]["val_esr"] == c.val_esr
    # which one was written, by identity: the polished one and its source share a structure
    assert [r["written"] for r in rows] == [False, True, False, False]
    # and the report says the model written is polished (the JSON's post_eq_polished, the
    # table's structure notes): checked here on a known polish, where a CLI test hung on
    # whether a real capture's fit happened to write a polished model (a test audit)
    fields = chosen.result_fields()
    assert fields["post_eq_polished"] is True
    assert fields["structure_notes"] == c.structure.notes + core.POLISHED_NOTE
    source = api.Chosen(c, None, None, True, "", [], -240.0)
    assert source.result_fields()["post_eq_polished"] is False
    assert source.result_fields()["structure_notes"] == c.structure.notes


def test_polishing_in_the_workers_gives_the_same_models(candidate_and_data, monkeypatch):
    """The fit's workers polish its finalists side by side; the models are the ones the
    serial path gives, bit for bit (one BLAS thread either way). The best polished one is
    not the first finalist here, and the two have equal structures (a dataclass compared
    by value holds numpy arrays: it must be found by position)."""
    from pedaltool.fit.schedule import Workers

    c, ds, _ = candidate_and_data
    other = core.Candidate(copy.deepcopy(c.structure), copy.deepcopy(c.model), c.val_esr,
                           c.val_esr_pre, 0.0, ["other"], dataset=1)
    other.model.post[1] = Section("peak", np.array([np.log2(2000.0), 1.0, -2.0]))
    base = core.Candidate(c.structure, c.model, 0.5, 0.5, 0.0, [])
    pools = []
    real = api.run_graph
    monkeypatch.setattr(api, "run_graph", lambda *a, **k: pools.append(k["pool"]) or real(*a, **k))
    serial = api.with_polished([other, c, base], base, lambda _: ds, lambda _: None)
    with Workers(2) as pool:
        assert pool.ex is not None  # forked: the side-by-side path is the one tested
        side = api.with_polished([other, c, base], base, lambda _: ds, lambda _: None, pool)
    assert pools == [None, pool]
    assert [x.log for x in side] == [x.log for x in serial]
    assert sum(x.polished for x in side) == 2
    assert "polished further" in side[0].log[-1] and side[0].log[0] == "fitted"  # c's
    for a, b in zip(side, serial, strict=True):
        assert np.array_equal(cascade_sos(a.model.post, RATE), cascade_sos(b.model.post, RATE))

