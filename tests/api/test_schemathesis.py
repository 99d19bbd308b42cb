"""Property-based requests from the served OpenAPI document (schemathesis): every
operation, valid and invalid data, bounded examples. No answer may be a 5xx, and every
answer must match what the document says about it."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)

CHECKS = (
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
)
# negative_data_rejection is added for invalid data: it must be refused with a 4xx.


@pytest.fixture
def served_schema(app, api):
    # The failed-authentication limit stays on: the negative cases' failures must not
    # stop the valid token's requests.
    return schemathesis.from_wsgi("/openapi.json", app)


# Valid data (it must be accepted, or refused by a documented rule) and invalid data
# (it must be refused with a 4xx).
schema = schemathesis.from_pytest_fixture(
    "served_schema", data_generation_methods=schemathesis.DataGenerationMethod.all()
)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure can be reproduced
)
def test_no_server_error_and_answers_match_the_document(case, api):
    negative = case.data_generation_method == schemathesis.DataGenerationMethod.negative
    # The generated bearer token is replaced by a valid one; a negative case without
    # one is about the missing token, and is sent so.
    authorized = not negative or "Authorization" in (case.headers or {})
    response = case.call_wsgi(
        headers={"Authorization": f"Bearer {api.token}"} if authorized else {}
    )
    # Refusing a case without a token as too many failed authentications (429, from
    # its ~30th on) refuses it too; the valid token's cases are never 429.
    assert not (authorized and response.status_code == 429)
    rejected = negative and response.status_code != 429
    checks = CHECKS + ((negative_data_rejection,) if rejected else ())
    case.validate_response(response, checks=checks)
