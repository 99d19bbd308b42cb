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
