import pytest

from tests.support.pipeline import Pipeline


@pytest.fixture
def pipeline(tmp_path, redis_url):
    # Stand-in playbooks: the nodes take none of this host's memory.
    pipeline = Pipeline(tmp_path, redis_url, RAM_OVERCOMMIT=100.0)
    try:
        yield pipeline
    finally:
        pipeline.close()
