"""Property-based fuzzing of the real API from its own OpenAPI spec: no request earns a 5xx.

schemathesis reads /openapi.json from a running `llmlabel serve` and generates
requests for every operation (valid and invalid bodies, paths, query strings),
sent with a valid admin key so they get past authentication. The number of
examples per operation is bounded so the whole module runs well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

# schemathesis (and hypothesis, which it brings) are test extras: missing, this fails loudly.
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, service_env

# The timeout is a hang guard: on 2 busy cores one mode has taken over 200 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MAX_EXAMPLES = 40
SECURITY_OPERATIONS = {
    "GET /v1/keys", "POST /v1/keys", "DELETE /v1/keys/{key_id}", "POST /v1/keys/{key_id}/rotate",
    "GET /v1/audit", "GET /v1/retention", "PUT /v1/retention", "DELETE /v1/batches/{batch_id}",
    "GET /v1/webhooks/secret", "POST /v1/webhooks/secret/rotate",
}


@pytest.fixture(scope="module")
def api_base(
    redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    redis.Redis.from_url(redis_server).flushdb()
    env = service_env(
        redis_server,
        fake_provider,
        tmp_path_factory.mktemp("var"),
        max_body_bytes=200_000,
        max_batch_items=50,
    )
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    try:
        yield procs.api(env)
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def admin_headers(redis_server: str, api_base: str) -> dict[str, str]:
    store = Store.from_settings(Settings(_env_file=None, redis_url=redis_server))  # type: ignore[call-arg]
    return {
        "Authorization": f"Bearer {store.create_api_key(team='fuzz', role=Role.ADMIN, name='fuzz')}"
    }


@pytest.fixture(scope="module")
def api_schema(api_base: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{api_base}/openapi.json", timeout=10)
    schema.config.base_url = api_base
    return schema


# schemathesis' pytest loader (`from_fixture`) does not run on pytest 9, so each
# operation's strategy is driven by hypothesis directly; failures are collected
# over all operations and reported together.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_errors(
    api_schema: Any, api_base: str, admin_headers: dict[str, str], mode: GenerationMode
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, "the spec lost its operations"
    # The security routes are fuzzed too (keys, audit, retention, deletion, webhook secret).
    labels = {operation.label for operation in operations}
    assert SECURITY_OPERATIONS <= labels, SECURITY_OPERATIONS - labels
    sent = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(
                base_url=api_base, headers=admin_headers, checks=[not_a_server_error], timeout=30
            )

        try:
            run()
        except Unsatisfiable:
            # Negative mode for an operation without parameters or body: nothing to break.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    print(f"{mode.value}: {sent} requests over {len(operations)} operations")
    assert sent >= len(operations)
    assert not failures, "\n\n".join(failures)
