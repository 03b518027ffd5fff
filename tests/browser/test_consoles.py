"""The three consoles in Chromium, against the running system (three processes, real RabbitMQ and PostgreSQL,
officers deciding): each test saves its screenshots under var/screenshots/<test>/.

- the journey: a sponsor submits a diplomat and a spouse through the form; an officer sees the case, denies the
  spouse with a reason and grants the principal; the sponsor sees both outcomes with the reason; a consular clerk
  finds the visa and its sticker. axe-core finds no serious violation on any page on the way;
- a form sent with errors shows each field's error next to it, in the language chosen with the switch;
- a cross-site form post without the CSRF token is refused, and another sponsor's request is out of reach.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.async_api import expect

from tests.support.browser import fits_at_200_percent, reload_until, serious_violations, sign_in

pytestmark = pytest.mark.e2e


def days(n: int) -> str:
    return (dt.date.today() + dt.timedelta(days=n)).isoformat()


PRINCIPAL = {
    "surnames": "ERIKSSON",
    "given_names": "ANNA MARIA",
    "sex": "F",
    "date_of_birth": "1974-08-12",
    "nationality": "SWE",
    "passport.number": "D1234567",
    "passport.type": "DIPLOMATIC",
    "passport.issuing_state": "SWE",
    "passport.expires_on": days(5 * 365),
}
SPOUSE = PRINCIPAL | {
    "relationship": "SPOUSE",
    "given_names": "LARS",
    "sex": "M",
    "date_of_birth": "1972-03-02",
    "passport.number": "D7654321",
}
REQUEST = {
    "immigration_status": "DIPLOMATIC_RESIDENT",
    "staff_category": "DIPLOMATIC_AGENT",
    "note_verbale.number": "NV-123/2026",
    "note_verbale.date": days(-7),
    "function": "First Secretary",
    "intended_arrival": days(60),
    "posting_end": days(60 + 3 * 365 - 1),
}
SELECTS = {"immigration_status", "staff_category", "sex", "passport.type", "relationship"}


def field(name: str) -> str:
    return "#f-" + re.sub(r"[^0-9A-Za-z]", "-", name)


async def fill(page, prefix: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        target = page.locator(field(prefix + name))
        if name.rsplit(".", 1)[-1] in SELECTS or name in SELECTS:
            await target.select_option(value)
        else:
            await target.fill(value)


async def accessible(page) -> None:
    assert await serious_violations(page) == [], page.url


async def test_a_visa_from_the_sponsors_form_to_the_consulates_list(consoles, chromium, screenshots):
    intake, authorization, issuance = (consoles.services[name].url for name in ("intake", "authorization", "issuance"))
    sponsor_key = consoles.new_key(
        "sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE"
    )
    officer_key = consoles.new_key("officers", "add", "--name", "Rosa Quispe")
    clerk_key = consoles.new_key("clerks", "add", "--name", "Lucía Huamán")

    # The sponsor, in English: the form, the principal and a spouse.
    sponsor = await chromium.new_page(locale="en-GB")
    await sign_in(sponsor, intake, sponsor_key)
    await expect(sponsor.locator("html")).to_have_attribute("lang", "en")
    await accessible(sponsor)
    await sponsor.get_by_role("link", name="New request").first.click()
    await fill(sponsor, "", REQUEST)
    await fill(sponsor, "principal.", PRINCIPAL)
    await fill(sponsor, "family.0.", SPOUSE)
    await accessible(sponsor)
    assert await fits_at_200_percent(sponsor)
    await screenshots.take(sponsor, "1-sponsor-form", readme="console-sponsor")
    await sponsor.get_by_role("button", name="Submit the request").click()
    await sponsor.wait_for_url(re.compile(r"/console/requests/[0-9a-f-]{36}$"))
    await expect(sponsor.get_by_role("status")).to_contain_text("Your request was submitted")
    request_url = sponsor.url
    request_id = request_url.rsplit("/", 1)[1]
    await screenshots.take(sponsor, "2-sponsor-submitted")

    # The officer, in Spanish (their browser's language): the queue, the case, a denial with a reason and a grant.
    officer = await chromium.new_page(locale="es-PE")
    await sign_in(officer, authorization, officer_key)
    case_link = officer.get_by_role("link", name="ERIKSSON, ANNA MARIA")
    await reload_until(officer, case_link)
    await expect(officer.locator("html")).to_have_attribute("lang", "es")
    await accessible(officer)
    await screenshots.take(officer, "3-officer-queue")
    await case_link.click()
    await officer.wait_for_url(f"{authorization}/console/cases/{request_id}")
    await expect(officer.locator("#case-state")).to_have_text("Pendiente")
    await expect(officer.get_by_role("button", name="Revocar")).to_have_count(0)  # not offered while pending
    await officer.get_by_label("Motivo para denegar a ERIKSSON, LARS").fill("certificado de matrimonio sin legalizar")
    await accessible(officer)
    assert await fits_at_200_percent(officer)
    await screenshots.take(officer, "4-officer-case", readme="console-officer")
    await officer.get_by_role("button", name="Otorgar", exact=True).click()
    await expect(officer.locator("#case-state")).to_have_text("Otorgada")
    await expect(officer.get_by_role("button", name="Otorgar", exact=True)).to_have_count(0)
    await expect(officer.get_by_role("button", name="Revocar")).to_be_visible()
    await expect(officer.locator("ol.history")).to_contain_text("Resuelto por el funcionario")
    await screenshots.take(officer, "5-officer-decided")

    # The sponsor sees both outcomes, the spouse's with the officer's reason.
    principal_row = sponsor.locator('tr[data-person="ERIKSSON, ANNA MARIA"]')
    spouse_row = sponsor.locator('tr[data-person="ERIKSSON, LARS"]')
    await reload_until(sponsor, principal_row.locator(".status-ISSUED"))
    await expect(principal_row).to_contain_text("Issued")
    await expect(spouse_row).to_contain_text("Denied")
    await expect(spouse_row).to_contain_text("certificado de matrimonio sin legalizar")
    visa_number = (await principal_row.locator("td .mono").inner_text()).strip()
    await accessible(sponsor)
    await screenshots.take(sponsor, "6-sponsor-outcomes")

    # The consular clerk finds the visa by name, and its sticker prints.
    clerk = await chromium.new_page(locale="en-GB")
    await sign_in(clerk, issuance, clerk_key)
    await clerk.get_by_label("Visa number, name or passport").fill("eriksson anna")
    await clerk.get_by_role("button", name="Search").click()
    row = clerk.locator(f'tr[data-visa="{visa_number}"]')
    await expect(row).to_contain_text("D1234567")
    await expect(row).to_contain_text("Valid")
    await expect(clerk.locator("tbody tr")).to_have_count(1)
    await accessible(clerk)
    assert await fits_at_200_percent(clerk)
    await screenshots.take(clerk, "7-clerk-visas", readme="console-consulate")
    sticker = await clerk.request.get(issuance + await row.get_by_role("link").get_attribute("href"))
    assert sticker.status == 200 and sticker.headers["content-type"] == "application/pdf"
    assert (await sticker.body()).startswith(b"%PDF")


async def test_a_form_with_errors_names_each_field_in_the_language_chosen(consoles, chromium, screenshots):
    intake = consoles.services["intake"].url
    key = consoles.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE")
    page = await chromium.new_page(locale="en-GB")
    await sign_in(page, intake, key)
    await page.goto(f"{intake}/console/requests/new")
    await page.get_by_role("link", name="Español").click()  # the switch, on every page
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await fill(page, "", REQUEST | {"intended_arrival": days(-3)})
    await fill(page, "principal.", PRINCIPAL | {"surnames": ""})
    await page.get_by_role("button", name="Presentar la solicitud").click()

    surnames = page.locator(".field", has=page.locator(field("principal.surnames")))
    arrival = page.locator(".field", has=page.locator(field("intended_arrival")))
    await expect(surnames.locator(".error")).to_contain_text("Campo obligatorio")
    await expect(arrival.locator(".error")).to_contain_text("no puede ser una fecha pasada")
    await expect(page.locator(field("principal.surnames"))).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(field("principal.given_names"))).to_have_value("ANNA MARIA")  # what was typed stays
    await expect(page.locator(".field .error")).to_have_count(2)
    await accessible(page)
    await screenshots.take(page, "1-errors-es")

    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await fill(page, "", REQUEST | {"intended_arrival": days(-3)})
    await fill(page, "principal.", PRINCIPAL | {"surnames": ""})
    await page.get_by_role("button", name="Submit the request").click()
    await expect(surnames.locator(".error")).to_contain_text("Field required")
    await expect(arrival.locator(".error")).to_contain_text("cannot be in the past")
    await screenshots.take(page, "2-errors-en")


async def test_a_cross_site_post_and_another_sponsors_request_are_refused(consoles, chromium, screenshots):
    intake = consoles.services["intake"].url
    first = consoles.new_key(
        "sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE"
    )
    second = consoles.new_key(
        "sponsors", "add", "--kind", "government", "--name", "Embassy of Chile", "--country", "CHL"
    )
    context = await chromium.new_context(locale="en-GB")
    page = await context.new_page()
    await sign_in(page, intake, first)

    # A page of another origin (same site: another port of 127.0.0.1, so the Lax cookie goes along) posts a form.
    hostile = "http://127.0.0.1:9/prize"
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{value}">'
        for name, value in ({f"principal.{k}": v for k, v in PRINCIPAL.items()} | REQUEST).items()
    )
    await context.route(
        hostile,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{intake}/console/requests/new">{fields}<button>Claim</button></form>',
        ),
    )
    await page.goto(hostile)
    async with page.expect_response(f"{intake}/console/requests/new") as refused:
        await page.get_by_role("button", name="Claim").click()
    assert (await refused.value).status == 403
    await screenshots.take(page, "1-cross-site-refused")
    # The same post from the console's own origin, with the session's cookie but without its token: refused too.
    forged = await context.request.post(
        f"{intake}/console/requests/new", form={f"principal.{k}": v for k, v in PRINCIPAL.items()} | REQUEST
    )
    assert forged.status == 403
    await page.goto(f"{intake}/console/")
    await expect(page.locator("section.panel")).to_have_count(0)  # nothing was submitted

    # The first sponsor's request, through the form; the second sponsor cannot reach it.
    await page.goto(f"{intake}/console/requests/new")
    await fill(page, "", REQUEST)
    await fill(page, "principal.", PRINCIPAL)
    await page.get_by_role("button", name="Submit the request").click()
    await page.wait_for_url(re.compile(r"/console/requests/[0-9a-f-]{36}$"))
    theirs = page.url
    other = await (await chromium.new_context(locale="en-GB")).new_page()
    await sign_in(other, intake, second)
    await expect(other.locator("section.panel")).to_have_count(0)
    answer = await other.goto(theirs)
    assert answer.status == 404
    await expect(other.get_by_role("heading", level=1)).to_have_text("Not found, or not yours to see.")
    await expect(other.locator("body")).not_to_contain_text("ERIKSSON")
    await screenshots.take(other, "2-not-theirs")
