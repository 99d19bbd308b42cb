import pytest

from tests.services import redis_server


@pytest.fixture(scope="session")
def redis_url():
    with redis_server() as url:
        yield url
