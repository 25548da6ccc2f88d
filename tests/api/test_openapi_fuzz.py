"""Schemathesis fuzzing over our OpenAPI document: no input may produce a 5xx.

Requests go over real HTTP to the waitress-served app, authenticated (a
machine JWT and a bouncer key on every request) so that the fuzzer reaches
the handlers, not only the auth checks. Bounded example counts keep the
module well under a minute. Runs on SQLite; set CSMP_FUZZ_BACKEND=postgresql
or =mysql to fuzz another backend, CSMP_FUZZ_EXAMPLES=N for a longer run.
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from crowdsec_mp.api.openapi import openapi_document  # noqa: E402
from tests.api.lapi_helpers import manual_alert, running_lapi  # noqa: E402

from schemathesis.config import SchemathesisConfig  # noqa: E402

# The coverage phase alone sends hundreds of requests per operation; the
# examples + fuzzing phases with a bounded example count keep this fast.
schema = schemathesis.openapi.from_dict(
    openapi_document(), config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
).exclude(path="/v1/watchers/self")  # no input to fuzz; unregistering is tested in test_bad_input.py


@pytest.fixture(scope="module")
def fuzz_lapi(tmp_path_factory):
    with running_lapi(os.environ.get("CSMP_FUZZ_BACKEND", "sqlite"), tmp_path_factory.mktemp("fuzz")) as lapi:
        yield lapi


@pytest.fixture(scope="module")
def auth_headers(fuzz_lapi):
    machine_token = fuzz_lapi.machine_token()
    fuzz_lapi.as_machine(machine_token, "POST", "/v1/alerts", json=[manual_alert("192.0.2.1"), manual_alert("10.0.0.0/8", scope="Range")])
    return {"Authorization": f"Bearer {machine_token}", "X-Api-Key": fuzz_lapi.bouncer_key(), "User-Agent": "fuzz/1.0"}


def test_document_is_served(fuzz_lapi):
    served = fuzz_lapi.request("GET", "/v1/openapi.json").json()
    assert served == openapi_document()
    assert {"/v1/alerts", "/v1/decisions", "/v1/decisions/stream", "/v1/watchers/login"} <= set(served["paths"])


@schema.parametrize()
@settings(max_examples=int(os.environ.get("CSMP_FUZZ_EXAMPLES", "15")), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, fuzz_lapi, auth_headers):
    response = case.call(base_url=fuzz_lapi.url.rstrip("/"), headers=auth_headers, timeout=30)
    assert response.status_code < 500, (case.method, case.path, case.query, response.text[:300])
    if response.status_code >= 400:
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        assert content_type[0].startswith("application/json"), (case.method, case.path, response.status_code)
        assert isinstance(response.json().get("message"), str)
