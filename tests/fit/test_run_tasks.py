"""The fitter's sub-fit runner: parallel processes, results by task, follow-up tasks started as
their inputs finish, most urgent first, a dead worker survived."""

import os

from pedaltool.fit.schedule import Task, run_graph

PARENT = os.getpid()


class _Done:
    def __init__(self, value, pid):
        self.value, self.pid, self.log = value, pid, [f"task {value} done"]


def _square(v):
    return _Done(v * v, os.getpid())


def _die_in_a_worker(v):
    if os.getpid() != PARENT:
        os._exit(3)  # a worker killed mid-task (as the OOM killer would)
    return _Done(v, os.getpid())


def _run(fn, n: int, workers: int, say) -> list:
    """fn(0) .. fn(n - 1) as independent tasks; their results in that order."""
    out = run_graph([Task(v, fn, (v,)) for v in range(n)], workers, say)
    return [out[v] for v in range(n)]


def test_tasks_run_in_worker_processes_and_keep_their_keys():
    said = []
    out = _run(_square, 5, 2, said.append)
    assert [d.value for d in out] == [0, 1, 4, 9, 16]
    assert all(d.pid != PARENT for d in out)
    assert sorted(said) == sorted(f"task {v * v} done" for v in range(5))


def test_one_worker_runs_in_this_process():
    out = _run(_square, 3, 1, lambda s: None)
    assert [d.pid for d in out] == [PARENT] * 3


def test_a_dead_worker_falls_back_to_this_process():
    said = []
    out = _run(_die_in_a_worker, 3, 2, said.append)
    assert [d.value for d in out] == [0, 1, 2]
    assert all(d.pid == PARENT for d in out)
    assert any("worker process died" in s for s in said)


def _follow_squares(key, result):
    """Each first-level result is followed by a task squaring it again."""
    if key[0] == "first":
        return [Task(("second", key[1]), _square, (result.value,), priority=0)]
    return []


def test_follow_up_tasks_run_and_results_do_not_depend_on_workers():
    first = [Task(("first", v), _square, (v,), priority=1) for v in range(4)]
    out = {w: run_graph(first, w, lambda s: None, _follow_squares) for w in (1, 2)}
    for w in (1, 2):
        assert {k: d.value for k, d in out[w].items()} == {
            **{("first", v): v ** 2 for v in range(4)},
            **{("second", v): v ** 4 for v in range(4)}}


def test_the_most_urgent_ready_task_starts_first():
    said = []
    tasks = [Task("late", _square, (1,), priority=2), Task("a", _square, (2,), priority=1),
             Task("b", _square, (3,), priority=1)]

    def follow(key, r):
        return [Task("urgent", _square, (4,), priority=0)] if key == "a" else []

    run_graph(tasks, 1, said.append, follow)
    # in one process: "a" first, then its follow-up overtakes "b" and "late"
    assert said == ["task 4 done", "task 16 done", "task 9 done", "task 1 done"]


def test_a_dead_worker_in_a_graph_loses_no_task():
    said = []
    first = [Task(("first", v), _die_in_a_worker, (v,)) for v in range(3)]

    def follow(key, r):
        return [Task(("second", key[1]), _square, (r.value,))] if key[0] == "first" else []

    out = run_graph(first, 2, said.append, follow)
    assert sorted(out) == sorted([("first", v) for v in range(3)] +
                                 [("second", v) for v in range(3)])
    assert any("worker process died" in s for s in said)
