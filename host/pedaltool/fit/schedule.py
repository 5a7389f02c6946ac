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


class Workers:
    """The processes a graph runs in, forked before the graph is planned: :meth:`start` runs
    tasks that need no planning (a fit's renders) beside the planning in this process (a fit's
    probe), and ``run_graph(..., pool=this)`` then runs the graph in the same processes. One
    worker, or a platform that cannot fork: nothing is forked and the started tasks wait for
    ``run_graph``, which runs everything here. Leaving the ``with`` block on an error, or
    with a :meth:`beside` task still running, stops the workers at once: a capture that fails
    its probe is not kept waiting for renders, nor a fit for a result it did not need."""

    def __init__(self, n: int):
        self.n = n
        self.ex = None
        self.running: dict = {}  # future -> Task
        self.queued: list[Task] = []  # started, waiting for a free worker
        self.besides: list = []  # futures of beside(), which nothing may be waiting for

    def __enter__(self) -> Workers:
        if self.n > 1 and "fork" in mp.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            self.ex = ProcessPoolExecutor(max_workers=self.n, mp_context=mp.get_context("fork"),
                                          initializer=_leave_ctrl_c_to_the_parent)
        return self

    def start(self, tasks: list[Task]) -> None:
        """Start ``tasks`` now, at most one per worker (the rest wait for ``run_graph``)."""
        for t in tasks:
            if self.ex is not None and len(self.running) < self.n:
                self.submit(t)
            else:
                self.queued.append(t)

    def submit(self, t: Task) -> None:
        self.running[self.ex.submit(one_blas_thread, t.fn, t.args)] = t

    def beside(self, fn: Callable, *args) -> Callable[[], object]:
        """``fn(*args)`` started in a worker now, outside any graph, for work this process may
        need next while it does something else. Returns a function that gives its result:
        computed in this process, when asked, if there are no workers or they died. Leaving the
        ``with`` block stops it if it is still running: its result was not needed."""
        from concurrent.futures.process import BrokenProcessPool

        def here():
            return fn(*args)

        if self.ex is None:
            return here
        try:
            future = self.ex.submit(fn, *args)
        except BrokenProcessPool:
            self.fall_back()
            return here
        self.besides.append(future)

        def result():
            try:
                return self.result_of(future)
            except BrokenProcessPool:
                self.fall_back()
                return here()
        return result

    def result_of(self, future):
        """``future.result()``, or BrokenProcessPool when a worker ends unnoticed meanwhile
        (``lost_a_worker``): looked at every WORKER_CHECK_S."""
        from concurrent.futures import TimeoutError as Pending
        from concurrent.futures.process import BrokenProcessPool

        while True:
            try:
                return future.result(timeout=WORKER_CHECK_S)
            except Pending:
                if self.lost_a_worker():
                    raise BrokenProcessPool("a worker ended without its result") from None

    def fall_back(self) -> None:
        """A worker died, which breaks the whole pool: from now on everything runs in this
        process (``run_graph``, ``start``, ``beside``). The tasks that were running in the
        workers are queued again, for ``run_graph`` to run here."""
        self.queued += self.running.values()
        self.running.clear()
        if self.ex is not None:
            ex, self.ex = self.ex, None
            _end(ex, stop=True)  # (the others may still run a task, which is done here now)

    def take_queued(self) -> list[Task]:
        """The tasks waiting for ``run_graph`` (started, or running when the pool broke),
        handed over: they are no longer queued here."""
        tasks, self.queued = self.queued, []
        return tasks

    def lost_a_worker(self) -> bool:
        """Has a worker process ended while the pool thinks it fine? A worker killed while
        it sends a result leaves half a message in the result pipe, and the executor waits
        for the rest without ever seeing that the worker is gone (a review: a fit hung until
        Ctrl-C)."""
        procs = (getattr(self.ex, "_processes", None) or {}).values()
        return any(not p.is_alive() for p in list(procs))

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.ex is not None:
            _end(self.ex, stop=exc_type is not None or not all(f.done() for f in self.besides))


def _end(ex, stop: bool) -> None:
    """Shut the executor ``ex`` down; ``stop``: end its processes first, whatever they are
    doing (Python < 3.14 has no public way to stop a running task)."""
    if stop:
        procs = list((getattr(ex, "_processes", None) or {}).values())
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(5.0)
        _unblock_executor_threads(ex)
    ex.shutdown(wait=True, cancel_futures=True)


def _leave_ctrl_c_to_the_parent() -> None:
    """A worker ignores SIGINT: Ctrl-C reaches the whole process group, and an idle worker
    began a KeyboardInterrupt traceback ("Process ForkProcess-1:") that the parent's
    terminate() cut short on the user's terminal. The parent stops the workers itself (its
    ``Workers.__exit__``), so a parent stuck where Ctrl-C cannot reach leaves them running."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _unblock_executor_threads(ex) -> None:
    """After its workers were killed: a worker killed while sending a result leaves half a
    message in the result pipe, and the executor's manager thread (which shutdown and the
    interpreter's exit join) would wait for the rest forever; one killed while taking a task
    can leave the call queue's feeder thread blocked. Closing this process's copy of the
    result pipe's write end, the last one once the workers are dead, gives the manager thread
    end-of-file (it then treats the pool as broken and ends), and the feeder thread is not
    joined. Private parts of concurrent.futures (CPython 3.11-3.13), each looked up with a
    fallback: without them the old behaviour remains."""
    call_queue = getattr(ex, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()
    writer = getattr(getattr(ex, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()


WORKER_CHECK_S = 1.0  # how often run_graph and beside look for a worker that ended unnoticed (s)


def run_graph(tasks: list[Task], workers: int, say: Say,
              follow: Callable[[Hashable, object], list[Task]] | None = None,
              pool: Workers | None = None) -> dict:
    """Run ``tasks`` and whatever ``follow(key, result)`` adds as each one ends; returns
    {key: result}. With ``workers`` > 1 the tasks run in forked worker processes (the probe and
    the datasets are inherited, not re-rendered), at most ``workers`` at a time; serially here
    where the platform cannot fork or a worker dies. ``pool``: workers already running the
    tasks it was given (:class:`Workers`); their results go through ``follow`` like the rest.
    Each result's last log line is reported as its task ends."""
    if pool is None:
        with Workers(workers) as own:
            return run_graph(tasks, workers, say, follow, own)
    queue = _Queue()
    queue.push(pool.take_queued() + list(tasks))
    results: dict = {}

    def finish(t: Task, r) -> None:
        results[t.key] = r
        if getattr(r, "log", None):
            say(r.log[-1])
        if follow:
            queue.push(follow(t.key, r))

    running = pool.running
    if pool.ex is not None:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        try:
            while queue.heap or running:
                # only as many in flight as workers: a queued task would be committed to a
                # worker before a more urgent one becomes possible
                while queue.heap and len(running) < pool.n:
                    t = queue.pop()
                    try:
                        pool.submit(t)
                    except BrokenProcessPool:  # a worker died since the last task ended
                        queue.push([t])
                        raise
                done, _ = wait(running, timeout=WORKER_CHECK_S, return_when=FIRST_COMPLETED)
                if not done and pool.lost_a_worker():
                    raise BrokenProcessPool("a worker ended without its result")
                for f in sorted(done, key=lambda f: running[f].priority):
                    r = f.result()  # raises BrokenProcessPool with the task still running
                    finish(running.pop(f), r)
            return results
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): do it here
            say("a worker process died; continuing in this process")
            pool.fall_back()
            queue.push(pool.take_queued())
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
