"""The consoles over HTTP, in process (the browser tests drive the same pages in Chromium): sign-in with an API key
for a session cookie, CSRF on every POST, a sponsor's form with each field's error in the chosen language, the
officer's actions through the use cases, another sponsor's request out of reach."""

from __future__ import annotations

import re

import httpx
import pytest

from services.authorization.cases import CaseState
from services.issuance.models import ConsularClerk
from tests.support.components import Service, System, visa_request
from tests.support.requests import spouse

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def browser(service: Service, language: str | None = None) -> httpx.AsyncClient:
    """A visitor of ``service``'s console: its own cookie jar, no API key."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app),
        base_url="http://test",
        cookies={"visa_language": language} if language else None,
    )


def token(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    page = await client.get("/console/sign-in")
    answer = await client.post("/console/sign-in", data={"csrf": token(page), "key": key, "next": "/console/"})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/"


def form(body: dict, prefix: str = "") -> dict[str, str]:
    """A request body as the console's form fields (``principal.passport.number``)."""
    fields: dict[str, str] = {}
    for name, value in body.items():
        if isinstance(value, dict):
            fields |= form(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                fields |= form(item, f"{prefix}{name}.{index}.")
        else:
            fields[f"{prefix}{name}"] = str(value)
    return fields


async def test_a_key_is_exchanged_for_a_session_cookie_and_never_shown(intake: Service):
    key = await intake.add_sponsor()
    async with browser(intake) as client:
        first = await client.get("/console/")
        assert first.status_code == 303 and first.headers["location"].startswith("/console/sign-in")
        cookie = first.headers["set-cookie"]
        page = await client.get("/console/sign-in")
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
        refused = await client.post("/console/sign-in", data={"csrf": token(page), "key": "sk_wrong"})
        assert refused.status_code == 401
        await sign_in(client, key)
        home = await client.get("/console/")
        assert home.status_code == 200 and "Embassy of Sweden" in home.text and key not in home.text
        assert key not in client.cookies.get("visa_intake_session", "")
        await client.post("/console/sign-out", data={"csrf": token(home)})
        assert (await client.get("/console/")).status_code == 303


async def test_the_session_cookie_is_secure_over_https(intake: Service):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url="https://test") as client:
        page = await client.get("/console/sign-in")
    assert "secure" in page.headers["set-cookie"].lower()


async def test_a_post_without_the_sessions_csrf_token_is_refused(intake: Service):
    key = await intake.add_sponsor()
    async with browser(intake) as client:
        await sign_in(client, key)
        page = await client.get("/console/requests/new")
        body = form(visa_request())
        assert (await client.post("/console/requests/new", data=body)).status_code == 403
        assert (await client.post("/console/requests/new", data=body | {"csrf": "forged"})).status_code == 403
        cross_site = await client.post(
            "/console/requests/new", data=body | {"csrf": token(page)}, headers={"Origin": "https://elsewhere.example"}
        )
        assert cross_site.status_code == 403
        accepted = await client.post("/console/requests/new", data=body | {"csrf": token(page)})
        assert accepted.status_code == 303, accepted.text


@pytest.mark.parametrize(("language", "required"), [("es", "Campo obligatorio"), ("en", "Field required")])
async def test_each_fields_error_is_shown_next_to_it_in_the_chosen_language(intake: Service, language, required):
    key = await intake.add_sponsor()
    body = form(visa_request(family=[spouse()]))
    del body["principal.surnames"]
    async with browser(intake, language) as client:
        await sign_in(client, key)
        page = await client.get("/console/requests/new")
        answer = await client.post("/console/requests/new", data=body | {"csrf": token(page)})
    assert answer.status_code == 422
    field = re.search(r'<div class="field has-error">(.*?)</div>', answer.text, re.DOTALL)
    assert field and 'for="f-principal-surnames"' in field.group(1) and required in field.group(1)
    assert f'<html lang="{language}">' in answer.text
    assert 'aria-invalid="true"' in answer.text


@pytest.mark.parametrize("policy", ["review"])
async def test_the_journey_through_the_three_consoles(system: System):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    sponsor_key, other_key = (
        await intake.add_sponsor(),
        await intake.add_sponsor(name="Embassy of Chile", country="CHL"),
    )
    officer_key = await authorization.add_officer()
    clerk_key = await issuance.add_account(ConsularClerk, "ck", name="Lucía Huamán")
    async with browser(intake) as sponsor, browser(intake) as other, browser(authorization, "en") as officer:
        await sign_in(sponsor, sponsor_key)
        page = await sponsor.get("/console/requests/new")
        submitted = await sponsor.post(
            "/console/requests/new", data=form(visa_request(family=[spouse()])) | {"csrf": token(page)}
        )
        request_path = submitted.headers["location"]
        request_id = request_path.rsplit("/", 1)[1]
        await sign_in(other, other_key)
        assert (await other.get(request_path)).status_code == 404
        assert request_id not in (await other.get("/console/")).text
        await system.settle()

        await sign_in(officer, officer_key)
        queue = await officer.get("/console/")
        assert request_id in queue.text
        case_page = await officer.get(f"/console/cases/{request_id}")
        assert "Take the case" in case_page.text and "Revoke the authorization" not in case_page.text
        case = await authorization.app.state.directorate.case(request_id)
        spouse_id = case.submission["family"][0]["person_id"]
        decided = await officer.post(
            f"/console/cases/{request_id}/grant",
            data={"csrf": token(case_page), f"deny.{spouse_id}": "marriage certificate not legalized"},
        )
        assert decided.status_code == 303
        after = await officer.get(decided.headers["location"])
        assert "Revoke the authorization" in after.text and "Take the case" not in after.text
        forced = await officer.post(f"/console/cases/{request_id}/deny", data={"csrf": token(after), "reason": "xyz"})
        assert forced.status_code == 409 and "cannot become DENIED" in forced.text
        assert (await authorization.app.state.directorate.case(request_id)).state == CaseState.GRANTED
        await system.settle()

        shown = (await sponsor.get(request_path)).text
        assert "marriage certificate not legalized" in shown
    async with browser(issuance) as clerk:
        await sign_in(clerk, clerk_key)
        found = await clerk.get("/console/", params={"q": "eriksson anna"})
        assert "D1234567" in found.text and "D7654321" not in found.text
