"""The fit's task graph (``api._FitGraph``): which tasks follow which, whatever order the
renders and fits end in (forked workers end them in any order; one process in priority order)."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from pedaltool.fit import api, core
from pedaltool.fit import structure as S

MILD, SATURATING = ("wh", "wh+mix"), ("wh2+cab", "wh2+cab+env")


def _graph(n_datasets: int, baseline: bool = True, evaluation=None,
           flavours=MILD) -> api._FitGraph:
    cfg = api.FitConfig(effort="normal", baseline=baseline)
    structs = S.within_budget(cfg.budget, cfg.arch, flavours)
    # what core.is_saturating and core.with_level_balance read
    probe = SimpleNamespace(saturating=flavours is SATURATING, rate_hz=48000.0)
    return api._FitGraph(cfg, probe, n_datasets, structs, 2, (5, 10), "t",
                         lambda s: None, evaluation)


def _dataset(k: int, own_validation: bool) -> core.Dataset:
    x = np.full(4, float(k + 1))  # two samples of playing, two of noise and sweeps
    if own_validation:
        return core.Dataset(x, x, np.full(3, 7.0), np.full(3, 8.0), n_play=2)
    return core.Dataset(x, x, np.zeros(0), np.zeros(0), n_play=2)


def _orders(flavours, n_data):
    n_eq = 1 if flavours is MILD else 2  # wh and wh+mix start from the same EQ kinds
    events = [("data", k) for k in range(n_data)] + [("eq", e) for e in range(n_eq)]
    return [(flavours, n_data, order) for order in itertools.permutations(events)]


@pytest.mark.parametrize("flavours,n_data,order", _orders(MILD, 3) + _orders(SATURATING, 1)
                         + _orders(SATURATING, 2))
def test_every_fit_starts_once_when_its_inputs_are_there_whatever_the_order(
        flavours, n_data, order):
    g = _graph(n_data, flavours=flavours)
    eq_tasks = sorted(set(g.eq_of))
    assert len(eq_tasks) == (1 if flavours is MILD else 2)
    started = [t.key for t in g.initial(48000, 1.0)]
    assert started == ([("data", 0)] + [("eq", e) for e in eq_tasks]
                       + [("data", k) for k in range(1, n_data)] + ["eval"])
    eqs = {e: {"memo of": e} for e in eq_tasks}
    seen, follow = set(), []
    for ev in order:
        new = (g(ev, eqs[ev[1]]) if ev[0] == "eq"
               else g(ev, (_dataset(ev[1], ev[1] == 0), 0.5)))
        seen.add(ev)
        for t in new:  # nothing starts before its inputs are there
            j = t.key[1]
            assert ("data", j) in seen and ("data", 0) in seen, (t.key, seen)
            if t.key[0] == "quick":
                e = g.eq_of[t.key[2]]
                assert ("eq", e) in seen and t.args[-1] is eqs[e]  # primes its memo
        follow += new
    keys = [t.key for t in follow]
    assert sorted(keys) == sorted([("quick", k, i) for k in range(n_data)
                                   for i in range(len(g.structs))]
                                  + [("base", k) for k in range(n_data)])  # each once
    assert g.render_seconds == 0.5 * n_data
    first = g.datasets[0]
    for k in range(n_data):  # each fits on its own playing, validated on the first one's
        assert g.datasets[k].x_fit[0] == k + 1
        assert g.datasets[k].x_val is first.x_val and g.datasets[k].y_val is first.y_val
    for t in follow:  # every task got its dataset with the validation attached, its playing
        d = t.args[2 if t.key[0] == "quick" else 1]  # level-balanced on a mild capture only
        assert len(d.x_val) == 3
        assert (d.play_weight is not None) is (flavours is MILD)
        # its validation weighted on a mild capture, with the first dataset's weights (the
        # same array, computed once)
        assert (d.val_weight is not None) is (flavours is MILD)
        assert d.val_weight is first.val_weight


@pytest.mark.parametrize("eval_first", [True, False])
def test_the_baseline_is_scored_once_when_every_baseline_and_the_evaluation_are_there(
        eval_first):
    g = _graph(2)
    ev = ((np.zeros(4), np.ones(4)), 0.25)
    bases = [SimpleNamespace(name=k) for k in range(2)]
    events = [("eval", ev)] + [(("base", k), b) for k, b in enumerate(bases)]
    if not eval_first:
        events = events[1:] + events[:1]
    follow = [t for key, r in events for t in g(key, r)]
    assert [t.key for t in follow] == ["base score"]
    assert follow[0].args[0] == bases and follow[0].args[3] == "t"
    assert all(a is b for a, b in zip(g.evaluation, ev[0], strict=True))
    assert follow[0].args[1:3] == g.evaluation and g.render_seconds == 0.25


def test_no_baseline_score_without_a_baseline_and_no_render_of_a_given_evaluation():
    g = _graph(1, baseline=False, evaluation=(np.zeros(4), np.ones(4)))
    assert [t.key for t in g.initial(48000, 1.0)] == [("data", 0), ("eq", 0)]
    assert g(("base", 0), SimpleNamespace()) == []


@pytest.mark.parametrize("effort", ["quick", "normal", "thorough"])
@pytest.mark.parametrize("given_evaluation", [False, True])
def test_the_renders_started_beside_the_probe_are_the_graphs_own(effort, given_evaluation):
    cfg = api.FitConfig(effort=effort)
    early = api.unplanned_tasks(cfg, 48000, 0.7, given_evaluation)
    keys = [t.key for t in early]
    # the first dataset's length depends on the probe only under the thorough effort
    assert keys == ([] if effort == "thorough" else [("data", 0)]) + (
        [] if given_evaluation else ["eval"])
    for saturating in (False, True):  # whatever the probe then finds
        pr = SimpleNamespace()
        structs = S.within_budget(cfg.budget, cfg.arch, SATURATING if saturating else MILD)
        g = api._FitGraph(cfg, pr, 3, structs, 2, (5, 10), "t", lambda s: None,
                          (np.zeros(4), np.ones(4)) if given_evaluation else None)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(core, "is_saturating", lambda p, s=saturating: s)
            planned = {t.key: t for t in g.initial(48000, 0.7)}
        for t in early:
            p = planned[t.key]
            assert (t.fn, t.args, t.priority) == (p.fn, p.args, p.priority)


def test_the_rendered_playing_is_counted_as_it_ends():
    """'rendered fitting playing 2 of 3, 3 of 3, 1 of 3' read as the count going back (a user
    review): the renders end in any order, and the progress counts them."""
    said: list[str] = []
    cfg = api.FitConfig(effort="normal")
    g = api._FitGraph(cfg, SimpleNamespace(saturating=False, rate_hz=48000.0), 3,
                      S.within_budget(cfg.budget, cfg.arch, MILD), 2,
                      (5, 10), "t", said.append, None)
    for k in (1, 2, 0):
        g(("data", k), (_dataset(k, k == 0), 0.5))
    assert [s for s in said if s.startswith("rendered")] == [
        f"rendered fitting playing {n} of 3 (seed {core.PLAY_SEEDS[k]})"
        for n, k in ((1, 1), (2, 2), (3, 0))]
