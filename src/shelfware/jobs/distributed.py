"""The distributed backend: Celery on Redis (or RabbitMQ) carries "run job N" messages to
``shelfware worker`` processes on any number of machines.

The engine only delivers; the job table decides. A message names a job id, and a worker runs
it only if it can claim it (queued -> running), so a duplicate or late message does nothing;
a message apparently lost (a job queued longer than ``STALE_AFTER``) is sent again by the
tick, and a
worker that died mid-job is noticed by its stale heartbeat and its job queued again."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery

from shelfware.jobs.backend import Ticker, add_job
from shelfware.jobs.runner import JobContext, run_one, worker_name
from shelfware.jobs.schemas import JobRequest

LOG = logging.getLogger("shelfware.jobs")
TASK = "shelfware.run_job"

# The worker process's context (set by ``shelfware worker`` before the engine starts).
_worker_context: JobContext | None = None


def engine(ctx: JobContext) -> Celery:
    """The Celery app for these settings: late acks, one message at a time per thread, no
    result backend (outcomes are in the job table)."""
    settings = ctx.settings
    app = Celery("shelfware", broker=settings.jobs_broker_url.get_secret_value())
    app.conf.update(
        task_default_queue=settings.jobs_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )

    @app.task(name=TASK)  # type: ignore[untyped-decorator]
    def run_job(job_id: int) -> None:
        context = _worker_context or ctx
        if run_one(context, worker_name(), job_id) is None:
            LOG.info("job %s: already taken or no longer queued", job_id)

    return app


class DistributedBackend:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.app = engine(ctx)
        self._ticker: Ticker | None = None

    def enqueue(self, job: JobRequest, key: str, *, actor: str | None = None) -> int:
        job_id = add_job(self.ctx, job, key, actor)
        self._send(job_id)
        return job_id

    def announce(self, job_ids: Sequence[int]) -> None:
        for job_id in job_ids:
            self._send(job_id)

    def _send(self, job_id: int) -> None:
        try:
            self.app.send_task(TASK, args=[job_id], queue=self.ctx.settings.jobs_queue)
        except Exception as exc:  # the job is queued in our table: the next tick resends it
            LOG.warning("job %s queued, but the engine did not take it yet: %s", job_id, exc)

    def start(self, *, tick_seconds: float | None = None) -> None:
        if tick_seconds:
            self._ticker = Ticker(self.ctx, self, tick_seconds)
            self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def run_worker(self, *, concurrency: int, hostname: str | None = None) -> None:
        """Consume messages until stopped (``shelfware worker``); blocks."""
        global _worker_context
        _worker_context = self.ctx
        argv: list[Any] = [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={self.ctx.settings.jobs_queue}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ]
        if hostname:
            argv.append(f"--hostname={hostname}")
        self.app.worker_main(argv)
