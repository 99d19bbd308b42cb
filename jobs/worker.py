"""`dbaas worker`: an RQ worker, plus a thread that keeps the queue honest (it relays
the outbox every few seconds and runs the recovery sweep every half minute) and one
that fences the leaders of machines confirmed gone (jobs.fencing)."""

import functools
import logging
import os
import threading
import time

from rq import Worker
from sqlalchemy.orm import Session

from core.config import DataDir
from core.database import make_engine, writer, writing_session
from core.queue import JobQueue, relay_outbox
from jobs import fencing, providers, recovery
from jobs.providers import PoolExhausted

log = logging.getLogger(__name__)

RELAY_INTERVAL = 5.0
SWEEP_INTERVAL = 30.0

# RQ forks a work horse per job. A fork taken while the keeper thread is inside SQLite
# (or any library holding an internal mutex) leaves that mutex locked in the child for
# good, and the job hangs before its first line. So a fork waits for the keeper's
# round to end, and no round starts during a fork.
between_rounds = threading.Lock()


@functools.cache  # once per process
def guard_forks() -> None:
    os.register_at_fork(
        before=between_rounds.acquire,
        after_in_parent=between_rounds.release,
        after_in_child=between_rounds.release,
    )


def _keeper(settings: dict, job_queue: JobQueue, stop: threading.Event) -> None:
    engine = writer(make_engine(settings["DATABASE_URL"]))
    sweep_interval = min(SWEEP_INTERVAL, settings["HEARTBEAT_TIMEOUT"])
    last_sweep = time.monotonic()
    while not stop.wait(min(RELAY_INTERVAL, sweep_interval)):
        try:
            with between_rounds, Session(engine, expire_on_commit=False) as session:
                if time.monotonic() - last_sweep >= sweep_interval:
                    recovery.sweep(session, settings, job_queue)
                    last_sweep = time.monotonic()
                else:
                    relay_outbox(session, job_queue)
        except Exception:  # keep going; the next round retries
            log.exception("queue keeper round failed")


def preflight(settings: dict) -> list[str]:
    """What this host lacks to carry out operations (empty when ready)."""
    try:
        provider = providers.load(settings)
    except (ValueError, PoolExhausted) as exc:
        return [str(exc)]
    problems = []
    if not DataDir.of(settings).root.is_dir():
        problems.append(f"the data directory {settings['DATA_DIR']} does not exist")
    if provider.uses_service_key() and not provider.ssh_key().is_file():
        problems.append(f"no SSH key for logging in to nodes at {provider.ssh_key()}")
    return problems


def run(settings: dict, *, burst: bool = False) -> None:
    job_queue = JobQueue(settings["REDIS_URL"], settings["QUEUE_NAME"])
    with writing_session(settings["DATABASE_URL"]) as session:
        summary = recovery.sweep(session, settings, job_queue)
    log.info("worker starting: %s", summary)

    stop = threading.Event()
    if not burst:
        guard_forks()
        threading.Thread(
            target=_keeper, args=(settings, job_queue, stop), name="queue-keeper", daemon=True
        ).start()
        engine = writer(make_engine(settings["DATABASE_URL"]))
        fence = fencing.Fence.for_worker(settings, engine, job_queue, between_rounds)
        if fence is not None:
            threading.Thread(target=fence.run, args=(stop,), name="fencing", daemon=True).start()
    try:
        Worker([job_queue.queue], connection=job_queue.redis).work(burst=burst)
    finally:
        stop.set()
