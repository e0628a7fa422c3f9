"""Property-based run of every operation in the OpenAPI spec against a live server: no 5xx, ever.

Bounded (``max_examples`` per operation) so that it belongs to the normal test run. Requests carry an
admin token (re-created if a generated ``DELETE /tokens/{id}`` revoked it); runs are fakes that finish
at once, so generated POSTs exercise validation, auth and the 409 path, not Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.jobs import RunJobs
from api.main import create_app
from api.testing import live_server
from r2d2.catalog import Catalog, open_catalog
from r2d2.config import load_settings


class _Auth:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.token = ""

    def headers(self) -> dict[str, str]:
        if not self.token or self.catalog.verify_token(self.token) is None:
            self.token = self.catalog.create_token("schemathesis", "admin")[1]
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _Auth]]:
    folder = tmp_path_factory.mktemp("schemathesis")
    (folder / "lake").mkdir()
    app_settings = load_settings(home=folder / "home", catalog_url=f"sqlite:///{folder / 'c.sqlite'}",
                                 lake_roots=(str(folder / "lake"),))
    catalog = open_catalog(app_settings.resolved_catalog_url)

    def fake_scan(cat, roots, _retry_errors):  # type: ignore[no-untyped-def]
        cat.finish_run(cat.start_run("scan", params={"roots": list(roots)}), status="succeeded")

    def fake_detect(cat):  # type: ignore[no-untyped-def]
        cat.finish_run(cat.start_run("detect"), status="succeeded")

    def fake_plan(cat, request):  # type: ignore[no-untyped-def]
        cat.finish_run(cat.start_run("plan", params=request.params()), status="succeeded")

    app = create_app(app_settings, jobs=RunJobs(scan=fake_scan, detect=fake_detect, plan=fake_plan))
    with live_server(app) as base:
        yield base, _Auth(catalog)


def _spec() -> dict:
    """The OpenAPI document of the app (building an app opens no catalog: that happens at start-up)."""
    return create_app(load_settings(home=Path("/nonexistent"))).openapi()


SPEC = _spec()
OPERATIONS = [(method.upper(), path) for path, item in SPEC["paths"].items() for method in item]
# Negative cases need an input that can be invalid: operations without parameters or body get none.
CASES = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(SPEC["paths"][p][m.lower()])]


@pytest.fixture(scope="module")
def api_schema(live: tuple[str, _Auth]) -> schemathesis.BaseSchema:
    base, _ = live
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p}-{mode}" for m, p, mode in CASES])
def test_no_server_errors(api_schema: schemathesis.BaseSchema, live: tuple[str, _Auth], method: str,
                          path: str, mode: GenerationMode) -> None:
    base, auth = live
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, headers=auth.headers(), timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json"), response.text

    check()


def test_spec_covers_every_route() -> None:
    assert ("POST", "/runs/scan") in OPERATIONS and ("DELETE", "/tokens/{token_id}") in OPERATIONS
    assert len(OPERATIONS) >= 14
