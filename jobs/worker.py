"""`dbaas worker`: an RQ worker, plus a relay that drains the operations outbox."""

import logging
import threading

from rq import Worker
from sqlalchemy.orm import Session

from app.database import make_engine, writer
from app.queue import JobQueue, relay_outbox

log = logging.getLogger(__name__)

RELAY_INTERVAL = 5.0


def _relay_forever(database_url: str, job_queue: JobQueue, stop: threading.Event) -> None:
    engine = make_engine(database_url)
    while not stop.wait(RELAY_INTERVAL):
        try:
            with Session(writer(engine), expire_on_commit=False) as session:
                relay_outbox(session, job_queue)
        except Exception:  # keep relaying; the next round retries
            log.exception("outbox relay failed")


def run(config: dict, *, burst: bool = False) -> None:
    job_queue = JobQueue(config["REDIS_URL"], config["QUEUE_NAME"])
    engine = make_engine(config["DATABASE_URL"])
    with Session(writer(engine), expire_on_commit=False) as session:
        relayed = relay_outbox(session, job_queue)
    engine.dispose()
    log.info("worker starting: %d operation(s) relayed from the outbox", relayed)

    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_relay_forever,
            args=(config["DATABASE_URL"], job_queue, stop),
            name="outbox-relay",
            daemon=True,
        ).start()
    try:
        Worker([job_queue.queue], connection=job_queue.redis).work(burst=burst)
    finally:
        stop.set()
