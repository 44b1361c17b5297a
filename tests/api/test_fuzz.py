"""Schemathesis against the app's OpenAPI schema: no 500, every error a problem+json.

Bounded: ``MAX_EXAMPLES`` generated cases per operation (valid and invalid data), with an
admin key, on SQLite and on PostgreSQL. ``keys.revoke`` is left out: a fuzzer that revokes
its own key would see only 401s afterwards (the role and write tests cover it).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from patron.api import ENDPOINT_ROLES
from tests.api.conftest import World

MAX_EXAMPLES = 40

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_world(world: World) -> World:
    """The shared world (the fuzzer's writes stay in its own store)."""
    return world


@pytest.fixture
def api_schema(fuzz_world: World) -> Any:
    """The app's schema, served in-process."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)


@schemathesis.check
def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx response is an RFC 9457 problem with type, title, status and detail."""
    if response.status_code < 400:
        return None
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    if not media.startswith("application/problem+json"):
        raise AssertionError(f"error {response.status_code} is {media!r}, not problem+json")
    body = response.json()
    for name in ("type", "title", "status", "detail"):
        if name not in body:
            raise AssertionError(f"problem without {name!r}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} != {response.status_code}")
    return True


#: Operations fuzzed: every operation of the app but keys.revoke (see the module docstring).
OPERATIONS = sorted(set(ENDPOINT_ROLES) - {"keys.revoke"} | {"health", "ready"})


def _strategy(operation: Any) -> Any:
    """Valid and invalid cases."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_api_fuzz(fuzz_world: World, operation_id: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    operation = next(
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().definition.raw.get("operationId") == operation_id
    )
    headers = fuzz_world.headers("admin")

    @given(case=_strategy(operation))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers,
            checks=[
                not_a_server_error,
                problem_json,
                content_type_conformance,
                response_schema_conformance,
                status_code_conformance,
            ],
        )

    run()


def test_fuzz_covers_the_operations(fuzz_world: World) -> None:
    """Every operation of the app is fuzzed but the one left out."""
    schema_doc = fuzz_world.client.get("/openapi.json").json()
    ids = {op["operationId"] for methods in schema_doc["paths"].values() for op in methods.values()}
    assert ids - set(OPERATIONS) == {"keys.revoke"}
