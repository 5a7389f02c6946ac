"""The fit's task graph (``api._FitGraph``): which tasks follow which, whatever order the
renders and fits end in (forked workers end them in any order; one process in priority order)."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from pedaltool.fit import api, core
from pedaltool.fit import structure as S


def _graph(n_datasets: int, baseline: bool = True, evaluation=None) -> api._FitGraph:
    cfg = api.FitConfig(effort="normal", baseline=baseline)
    structs = S.within_budget(cfg.budget, cfg.arch, ("wh", "wh+mix"))
    return api._FitGraph(cfg, SimpleNamespace(), n_datasets, structs, 2, (5, 10), "t",
                         lambda s: None, evaluation)


def _dataset(k: int, own_validation: bool) -> core.Dataset:
    x = np.full(4, float(k))
    if own_validation:
        return core.Dataset(x, x, np.full(3, 7.0), np.full(3, 8.0))
    return core.Dataset(x, x, np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("order", list(itertools.permutations([0, 1, 2, "eq"])))
def test_every_dataset_gets_its_fits_whatever_order_the_renders_end_in(order):
    g = _graph(3)
    started = [t.key for t in g.initial(48000, 1.0)]
    assert started == [("data", 0), "eq", ("data", 1), ("data", 2), "eval"]
    eqs = {"memo": "entries"}
    follow = []
    for k in order:
        follow += g("eq", eqs) if k == "eq" else g(("data", k), (_dataset(k, k == 0), 0.5))
    keys = sorted(t.key for t in follow)
    assert keys == sorted([("quick", k, i) for k in range(3) for i in range(2)]
                          + [("base", k) for k in range(3)])
    assert all(t.args[-1] is eqs for t in follow)  # each primes its memo with the EQ fits
    assert g.render_seconds == 1.5
    first = g.datasets[0]
    for k in range(3):  # each fits on its own playing, validated on the first one's
        assert g.datasets[k].x_fit[0] == k
        assert g.datasets[k].x_val is first.x_val and g.datasets[k].y_val is first.y_val
    for t in follow:  # every task got its dataset with the validation attached
        assert len(t.args[2 if t.key[0] == "quick" else 1].x_val) == 3


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
    assert [t.key for t in g.initial(48000, 1.0)] == [("data", 0), "eq"]
    assert g(("base", 0), SimpleNamespace()) == []
