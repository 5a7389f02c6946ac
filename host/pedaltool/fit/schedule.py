"""Running the fitter's independent sub-fits side by side.

A fit is a small graph of pure tasks: quick fits, then long fits of the best of them, then
(normal and thorough effort) envelope promotions of the best long fits, with the evaluation
render and the naive baseline beside them. :func:`run_graph` keeps every worker busy: a task
that becomes possible (its inputs finished) is started as soon as a worker is free, most urgent
first, instead of waiting for a whole stage to end. A stage of three equal long fits on two
cores left one core idle for a whole long fit (about 7 s of a 25 s fit).

Each task is a pure function of its arguments, so the results do not depend on the number of
workers or the order tasks end in; only the progress lines come in completion order.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing as mp
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Say = Callable[[str], None]


@dataclass
class Task:
    """``fn(*args)``, stored under ``key``; a lower ``priority`` starts first (ties: in the
    order tasks were added)."""

    key: Hashable
    fn: Callable
    args: tuple = ()
    priority: int = 0


@dataclass
class _Queue:
    heap: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)

    def push(self, tasks: list[Task]) -> None:
        for t in tasks:
            heapq.heappush(self.heap, (t.priority, next(self.seq), t))

    def pop(self) -> Task:
        return heapq.heappop(self.heap)[2]


def run_graph(tasks: list[Task], workers: int, say: Say,
              follow: Callable[[Hashable, object], list[Task]] | None = None) -> dict:
    """Run ``tasks`` and whatever ``follow(key, result)`` adds as each one ends; returns
    {key: result}. With ``workers`` > 1 the tasks run in forked worker processes (the probe and
    the datasets are inherited, not re-rendered), at most ``workers`` at a time; serially here
    where the platform cannot fork or a worker dies. Each result's last log line is reported
    as its task ends."""
    queue = _Queue()
    queue.push(tasks)
    results: dict = {}

    def finish(t: Task, r) -> None:
        results[t.key] = r
        if getattr(r, "log", None):
            say(r.log[-1])
        if follow:
            queue.push(follow(t.key, r))

    if workers > 1 and "fork" in mp.get_all_start_methods():
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        running: dict = {}
        try:
            with ProcessPoolExecutor(max_workers=workers,
                                     mp_context=mp.get_context("fork")) as ex:
                while queue.heap or running:
                    # only as many in flight as workers: a queued task would be committed to
                    # a worker before a more urgent one becomes possible
                    while queue.heap and len(running) < workers:
                        t = queue.pop()
                        running[ex.submit(one_blas_thread, t.fn, t.args)] = t
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for f in sorted(done, key=lambda f: running[f].priority):
                        r = f.result()  # raises BrokenProcessPool with the task still running
                        finish(running.pop(f), r)
            return results
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): do it here
            say("a worker process died; continuing in this process")
            queue.push([t for t in running.values() if t.key not in results])
    while queue.heap:
        t = queue.pop()
        finish(t, one_blas_thread(t.fn, t.args))
    return results


def one_blas_thread(fn, args):
    """Run a task with BLAS limited to one thread: the worker processes already use every
    core, and OpenBLAS's own threads on top of them (2 per process here) slowed the long
    refinements 2x by oversubscription. Serial runs use one thread too, so that the result
    (BLAS sums in the same order) does not depend on the number of processes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return fn(*args)
