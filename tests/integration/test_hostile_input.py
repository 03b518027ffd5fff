"""NUL characters and lone surrogates on PostgreSQL, whose text can hold neither: refused as 422, never a 500."""

from __future__ import annotations

import json

import pytest

from services.intake.models import Auditor
from services.issuance.models import Verifier
from tests.support.components import bearer, services_on_postgres
from tests.support.requests import visa_request


@pytest.fixture
async def system(postgres_database, run_id):
    urls = {name: await postgres_database(name) for name in ("intake", "authorization", "issuance")}
    async with services_on_postgres(urls, f"it-{run_id}.") as system:
        yield system


async def test_nul_in_paths_queries_and_bodies_is_a_422_on_postgres(system):
    sponsor = bearer(await system.intake.add_sponsor())
    officer = bearer(await system.authorization.add_officer())
    verifier = bearer(await system.issuance.add_account(Verifier, "vk", name="Jorge Chavez airport"))
    auditor = bearer(await system.intake.add_account(Auditor, "ak", name="Contraloría"))
    request_id = await system.submit(sponsor)
    await system.settle()  # policy auto: granted and issued, so a revocation would write its reason

    answers = {
        "request": await system.intake.http.get("/v1/requests/%00", headers=sponsor),
        "audit": await system.intake.http.get("/v1/audit/requests?after=%00", headers=auditor),
        "case": await system.authorization.http.get("/v1/cases/%00", headers=officer),
        "visa": await system.issuance.http.get("/v1/visas/PE%00", headers=verifier),
        "revoke": await system.authorization.http.post(
            f"/v1/cases/{request_id}/revoke", json={"reason": "end of\u0000 mission"}, headers=officer
        ),
        "submit": await system.intake.http.post(
            "/v1/requests",
            content=json.dumps(visa_request(function="First \ud800 Secretary")).encode(),
            headers=sponsor | {"Content-Type": "application/json"},
        ),
    }

    for name, response in answers.items():
        assert response.status_code == 422, (name, response.text)
        [entry] = response.json()["detail"]
        assert set(entry) == {"loc", "msg", "type"}, name
    assert answers["revoke"].json()["detail"][0]["loc"] == ["body", "reason"]
    # And the case still stands: the refused revocation changed nothing.
    case = await system.authorization.http.get(f"/v1/cases/{request_id}", headers=officer)
    assert case.json()["state"] == "GRANTED"
