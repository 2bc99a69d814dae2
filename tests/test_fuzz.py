"""Schema fuzzing of the whole OpenAPI description with Schemathesis, against the real app under uvicorn on
loopback (with API keys, so both the key check and what lies behind it are exercised): no response is a 5xx,
and every response matches what /openapi.json promises. Bounded (a few examples per operation) to stay fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from rag.pipeline import Pipeline
from tests.api_support import serve_api
from tests.conftest import SEEDS

KEY = "fuzz-admin-key"
# 5xx and conformance to the schema. Not "schema-valid input is accepted": the API rightly refuses some inputs
# the schema cannot describe (a conversation whose last message is not the user's, a blank question).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
EXAMPLES = 4


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: object, embedder: object) -> Iterator[str]:
    from rag.pipeline import build
    from tests.conftest import make_settings

    settings = make_settings(tmp_path_factory.mktemp("fuzz") / "data", fake_llm_server.base_url)  # type: ignore[attr-defined]
    pipe: Pipeline = build(settings, embedder=embedder)  # type: ignore[arg-type]
    pipe.ingestor.ingest([SEEDS])
    with serve_api(pipe, admin_keys=KEY, max_upload_mb=0.2) as api:
        yield api.url
    pipe.close()


def test_no_5xx_and_every_response_matches_the_schema(fuzz_server: str) -> None:
    # Driven through Hypothesis directly: Schemathesis's pytest plugin does not load under this pytest.
    schema = schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as e:  # one report for all operations
            failures[operation.label] = str(e)[:3000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
