"""The worker's fork guard: RQ's fork of a work horse never lands inside a keeper round."""

import os
import threading
import time

from jobs import worker


def test_a_fork_waits_for_the_keepers_round_to_end():
    worker.guard_forks()
    in_round, round_over = threading.Event(), threading.Event()

    def keeper_round():
        with worker.between_rounds:
            in_round.set()
            time.sleep(0.3)  # inside SQLite, say
            round_over.set()

    keeper = threading.Thread(target=keeper_round)
    keeper.start()
    in_round.wait(5)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if round_over.is_set() else 1)
    forked_after_round = round_over.is_set()
    _, status = os.waitpid(pid, 0)
    keeper.join()
    assert forked_after_round
    assert os.waitstatus_to_exitcode(status) == 0
    # Released on both sides: the next round (and the next fork) do not block.
    assert worker.between_rounds.acquire(timeout=1)
    worker.between_rounds.release()
