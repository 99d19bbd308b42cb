import pytest

from tests.support.pipeline import Pipeline


@pytest.fixture
def pipeline(tmp_path, redis_url):
    pipeline = Pipeline(tmp_path, redis_url)
    try:
        yield pipeline
    finally:
        pipeline.close()
