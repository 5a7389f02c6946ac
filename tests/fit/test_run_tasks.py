"""The fitter's sub-fit runner: parallel processes, results in order, a dead worker survived."""

import os

from pedaltool.fit.api import run_tasks

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


def test_tasks_run_in_worker_processes_and_keep_their_order():
    said = []
    out = run_tasks([(_square, (v,)) for v in range(5)], 2, said.append)
    assert [d.value for d in out] == [0, 1, 4, 9, 16]
    assert all(d.pid != PARENT for d in out)
    assert said == [f"task {v * v} done" for v in range(5)]


def test_one_worker_runs_in_this_process():
    out = run_tasks([(_square, (v,)) for v in range(3)], 1, lambda s: None)
    assert [d.pid for d in out] == [PARENT] * 3


def test_a_dead_worker_falls_back_to_this_process():
    said = []
    out = run_tasks([(_die_in_a_worker, (v,)) for v in range(3)], 2, said.append)
    assert [d.value for d in out] == [0, 1, 2]
    assert all(d.pid == PARENT for d in out)
    assert any("worker process died" in s for s in said)
