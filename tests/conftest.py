import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import redis_server


@pytest.fixture(scope="session")
def redis_url():
    with redis_server() as url:
        yield url


# The tiers that build machines on this host; `make test-fast` deselects them.
LAB_TIERS = ("e2e", "roles")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.path).parent.name in LAB_TIERS:
            item.add_marker(pytest.mark.lab)


def _lab_filters_left() -> list[str]:
    """nftables tables of the tests' own lab bridges (dbt*: tests/roles, dbe*:
    tests/e2e) still there: every test removes its own, even when it fails."""
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return [
        line
        for line in listed.stdout.splitlines()
        if line.startswith(("table bridge dbaas_dbt", "table bridge dbaas_dbe"))
    ]


def pytest_sessionfinish(session, exitstatus):
    # A session without lab tests makes no filter, and may end while another session's
    # lab test (make test runs the slow ones meanwhile) holds its own.
    ran_lab_tests = any(item.get_closest_marker("lab") for item in session.items)
    if shutil.which("nft") is None or not ran_lab_tests:
        return
    left = _lab_filters_left()
    if left:
        print(f"\nlab filter rules left behind: {left}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
