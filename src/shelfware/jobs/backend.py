"""The job backend port, and the embedded backend: worker threads in this process that claim
jobs from our table. The distributed backend lives in ``shelfware.jobs.distributed``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from shelfware.jobs import lease, queue
from shelfware.jobs.runner import JobContext, run_one, worker_name
from shelfware.jobs.schemas import JobRequest

LOG = logging.getLogger("shelfware.jobs")


class JobBackend(Protocol):
    def enqueue(self, job: JobRequest, key: str, *, actor: str | None = None) -> int:
        """Queue ``job`` under ``key`` (JobConflict when one is queued or running); its id."""
        ...

    def announce(self, job_ids: Sequence[int]) -> None:
        """Tell the workers these jobs are queued (requeued, or their message was lost)."""
        ...

    def start(self, *, tick_seconds: float | None = None) -> None: ...

    def stop(self) -> None: ...


def add_job(ctx: JobContext, job: JobRequest, key: str, actor: str | None) -> int:
    with ctx.db.transaction() as session:
        return queue.add(session, ctx.clock, job, key, actor=actor, period=job.period)


class Ticker:
    """Runs the schedule tick every ``seconds`` (wall time) on a thread until stopped. The
    tick does its work only while ``holder`` (this process by default) holds the database's
    schedule lease; stopping gives the lease up so another ticker takes over at once."""

    def __init__(
        self, ctx: JobContext, backend: JobBackend, seconds: float, *, holder: str | None = None
    ) -> None:
        self._ctx, self._backend, self._seconds = ctx, backend, seconds
        self.holder = holder or lease.holder_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobs-tick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        from shelfware.jobs.tick import tick

        while True:
            try:
                tick(self._ctx, self._backend, holder=self.holder)
            except Exception:  # the database may be away for a moment; try next tick
                LOG.warning("schedule tick failed", exc_info=True)
            if self._stop.wait(self._seconds):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            lease.release(self._ctx.db, lease.SCHEDULE, self.holder)
        except Exception:  # it lapses on its own
            LOG.warning("could not give the schedule lease up", exc_info=True)


class EmbeddedBackend:
    """Worker threads inside ``shelfware serve``. Started with the app they run until it
    stops; an enqueue without them (a test app, a script) starts lingering workers that end
    once the queue has been empty for ``linger`` seconds. State is the job table only, so a
    restart resumes what was queued, and a job whose worker died is requeued by the tick."""

    def __init__(
        self, ctx: JobContext, *, workers: int = 2, poll: float = 1.0, linger: float = 3.0
    ) -> None:
        self.ctx = ctx
        self._workers, self._poll, self._linger = workers, poll, linger
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ticker: Ticker | None = None
        self._persistent = False

    def enqueue(self, job: JobRequest, key: str, *, actor: str | None = None) -> int:
        job_id = add_job(self.ctx, job, key, actor)
        self.announce([job_id])
        return job_id

    def announce(self, job_ids: Sequence[int]) -> None:
        """Wake the workers (starting lingering ones if none run); they claim from the table."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self._workers and not self._stop.is_set():
                self._spawn()
            self._wake.notify_all()

    def start(self, *, tick_seconds: float | None = None) -> None:
        with self._lock:
            self._persistent = True
            self._stop.clear()
            while len([t for t in self._threads if t.is_alive()]) < self._workers:
                self._spawn()
        if tick_seconds:
            self._ticker = Ticker(self.ctx, self, tick_seconds)
            self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=30)

    def drain(self) -> list[int]:
        """Run queued due jobs on this thread until none is left; their ids."""
        worker, ran = worker_name(), []
        while (job_id := run_one(self.ctx, worker)) is not None:
            ran.append(job_id)
        return ran

    def _spawn(self) -> None:  # with the lock held
        thread = threading.Thread(target=self._work, name="jobs-worker", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        worker = worker_name()
        idle = 0.0
        while not self._stop.is_set():
            try:
                ran = run_one(self.ctx, worker)
            except Exception:  # the database may be away for a moment
                LOG.warning("job worker %s could not claim a job", worker, exc_info=True)
                ran = None
            if ran is not None:
                idle = 0.0
                continue
            with self._lock:
                if not self._persistent and idle >= self._linger:
                    if threading.current_thread() in self._threads:
                        self._threads.remove(threading.current_thread())
                    return
                self._wake.wait(self._poll)
            idle += self._poll
