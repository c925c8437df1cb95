"""Schemathesis over the whole OpenAPI: generated requests against every operation, 0 server errors.

Bounded (``max_examples`` per operation) so the run stays within seconds; requests carry the admin
token so they reach the validation and the domain rather than stopping at 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import seed  # noqa: E402

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "ledger.db"
    store = SqliteEventStore(str(path))
    store.init()
    TOKEN["root"] = seed(store)["root"]
    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    store.close()


@pytest.mark.slow
def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, ``max_examples`` generated cases each (schemathesis' pytest plugin does not
    load under pytest 9, so the operations are driven through hypothesis directly)."""
    from hypothesis import given

    headers = {"Authorization": f"Bearer {TOKEN['root']}"}
    failures: list[str] = []
    operations = 0
    calls: dict[int, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400 and case.path != "/metrics":
                assert "application/problem+json" in str(response.headers.get("content-type")), case.path

        run()
    assert operations >= 25
    assert failures == []
    assert sum(calls.values()) > 300, calls
    print(f"schemathesis: {operations} operations, {sum(calls.values())} calls, status counts {sorted(calls.items())}")
