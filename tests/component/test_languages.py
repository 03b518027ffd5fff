"""Spanish and English: the same refusal in Spanish when no language is asked, in English on
``Accept-Language: en``, named in ``Content-Language``; ``loc`` and ``type`` never change."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from tests.support.components import Service
from tests.support.requests import visa_request

ENGLISH = {"Accept-Language": "en"}


def bare(service: Service) -> httpx.AsyncClient:
    """A client that names no language (the harness's own asks for English)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://test")


async def both(service: Service, method: str, url: str, **kwargs) -> tuple[httpx.Response, httpx.Response]:
    """The same request with no ``Accept-Language``, then with ``Accept-Language: en``."""
    headers = kwargs.pop("headers", {})
    async with bare(service) as client:
        spanish = await client.request(method, url, headers=headers, **kwargs)
        english = await client.request(method, url, headers=headers | ENGLISH, **kwargs)
    assert spanish.headers["content-language"] == "es" and english.headers["content-language"] == "en"
    assert spanish.status_code == english.status_code
    return spanish, english


async def test_an_unknown_request_is_refused_in_spanish_unless_english_is_asked(intake, sponsor):
    spanish, english = await both(intake, "GET", "/v1/requests/r-404", headers=sponsor)

    assert spanish.status_code == 404
    assert spanish.json() == {"detail": "no existe la solicitud r-404"}
    assert english.json() == {"detail": "no request r-404"}


@pytest.mark.parametrize(
    ("accept_language", "detail"),
    [
        ("en-GB,en;q=0.9", "no request r-404"),
        ("es-PE", "no existe la solicitud r-404"),
        ("fr", "no existe la solicitud r-404"),
        ("en;q=0, es", "no existe la solicitud r-404"),
        ("fr, en;q=0.5", "no request r-404"),
        ("%%%", "no existe la solicitud r-404"),
    ],
)
async def test_the_language_is_negotiated(intake, sponsor, accept_language, detail):
    async with bare(intake) as client:
        answer = await client.get("/v1/requests/r-404", headers=sponsor | {"Accept-Language": accept_language})
    assert answer.json() == {"detail": detail}
    assert answer.headers["content-language"] == ("en" if detail.startswith("no request") else "es")
    assert "accept-language" in answer.headers["vary"].lower()


async def test_a_refused_request_names_each_field_in_the_asked_language(intake, sponsor):
    body = visa_request(intended_arrival="2031-13-01")
    body["principal"]["date_of_birth"] = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    del body["function"]
    spanish, english = await both(intake, "POST", "/v1/requests", json=body, headers=sponsor)

    assert spanish.status_code == 422
    es = {tuple(entry["loc"]): entry for entry in spanish.json()["detail"]}
    en = {tuple(entry["loc"]): entry for entry in english.json()["detail"]}
    assert es.keys() == en.keys()
    assert all(es[loc]["type"] == en[loc]["type"] for loc in es)
    assert en[("body", "function")]["msg"] == "Field required"
    assert es[("body", "function")]["msg"] == "Campo obligatorio"
    arrival = ("body", "intended_arrival")
    assert (
        en[arrival]["msg"] == "Input should be a valid date or datetime, month value is outside expected range of 1-12"
    )
    assert (
        es[arrival]["msg"]
        == "Debe ser una fecha, o una fecha y hora, válida: el mes está fuera del rango esperado (1-12)"
    )
    born = ("body", "principal", "date_of_birth")
    assert en[born]["msg"] == "Value error, must be in the past"
    assert es[born]["msg"] == "Valor no válido: debe ser una fecha pasada"
    assert "2031-13-01" not in spanish.text and "2031-13-01" not in english.text  # the refused value is not echoed


async def test_a_reused_idempotency_key_is_a_conflict_in_either_language(intake, sponsor):
    keyed = sponsor | {"Idempotency-Key": "note-2031-017"}
    first = await intake.http.post("/v1/requests", json=visa_request(), headers=keyed)
    assert first.status_code == 202, first.text
    spanish, english = await both(
        intake, "POST", "/v1/requests", json=visa_request(function="Consejero"), headers=keyed
    )

    assert spanish.status_code == 409
    assert spanish.json() == {"detail": "la clave Idempotency-Key ya se utilizó para una solicitud distinta"}
    assert english.json() == {"detail": "Idempotency-Key was already used for a different request"}


async def test_a_decided_case_cannot_be_taken_in_either_language(system, sponsor, officer):
    request_id = await system.submit(sponsor)
    await system.settle()  # policy "auto": decided without an officer
    spanish, english = await both(system.authorization, "POST", f"/v1/cases/{request_id}/take", headers=officer)

    assert spanish.status_code == 409
    assert re.fullmatch(r"a [A-Z_]+ case cannot be taken: only a PENDING case can", english.json()["detail"])
    assert re.fullmatch(
        r"un caso en estado [A-Z_]+ no puede tomarse: solo puede tomarse un caso PENDING", spanish.json()["detail"]
    )


async def test_authentication_is_refused_in_either_language(intake):
    spanish, english = await both(intake, "GET", "/v1/requests", headers={"Authorization": "Bearer sk_unknown"})
    assert spanish.status_code == 401
    assert (spanish.json(), english.json()) == ({"detail": "clave desconocida"}, {"detail": "unknown key"})

    spanish, english = await both(intake, "GET", "/v1/requests")
    assert spanish.json() == {"detail": "falta la clave de acceso: envíe 'Authorization: Bearer <clave>'"}
    assert english.json() == {"detail": "missing bearer key: send 'Authorization: Bearer <key>'"}


async def test_what_the_guard_refuses_is_worded_in_either_language(intake, sponsor):
    spanish, english = await both(intake, "GET", "/v1/requests/a%00b", headers=sponsor)
    assert spanish.status_code == 422
    assert spanish.json()["detail"] == [
        {"loc": ["path"], "msg": "el carácter NUL (U+0000) no está permitido en la ruta", "type": "nul_character"}
    ]
    assert english.json()["detail"][0]["msg"] == "NUL character (U+0000) is not allowed in the path"

    large = b"x" * (2**20 + 1)
    spanish, english = await both(intake, "POST", "/v1/requests", content=large, headers=sponsor)
    assert spanish.status_code == 413
    assert spanish.json() == {
        "detail": "el cuerpo de la petición es demasiado grande: este servicio acepta como máximo 1048576 bytes"
    }
    assert english.json() == {"detail": "request body too large: this service accepts at most 1048576 bytes"}


async def test_an_unknown_visa_is_refused_in_either_language(system, verifier):
    spanish, english = await both(system.issuance, "GET", "/v1/visas/X0000001", headers=verifier)

    assert spanish.status_code == 404
    assert spanish.json() == {"detail": "esta oficina consular no ha expedido ninguna visa con el número 'X0000001'"}
    assert english.json() == {"detail": "no visa numbered 'X0000001' was issued by this post"}


async def test_an_unknown_route_is_refused_in_either_language(intake):
    spanish, english = await both(intake, "GET", "/v1/nowhere")
    assert spanish.status_code == 404
    assert (spanish.json(), english.json()) == ({"detail": "No encontrado"}, {"detail": "Not Found"})


# --- the reasons of a decision: codes in the events, sentences in the reader's language ------------------------


@pytest.mark.parametrize("policy", ["review"])
async def test_a_requests_reasons_read_the_same_in_english_and_spanish(system, sponsor, officer):
    body = visa_request()
    body["family"][0] |= {"nationality": "PER"}  # a Peruvian spouse: the rule peruvian-national
    request_id = await system.submit(sponsor, body)
    await system.settle()
    grant = await system.authorization.http.post(f"/v1/cases/{request_id}/grant", headers=officer)
    assert grant.status_code == 200, grant.text
    [decided] = [e for e in await system.settle() if e.type.endswith("authorization.granted.v1")]
    [denied] = [d for d in decided.data["decisions"] if d["decision"] == "DENIED"]

    # On the wire: the rule's code and its parameters, never a sentence.
    assert denied["reasons"] == ["peruvian-national"]
    assert [(f["rule"], f["message"], sorted(f["params"])) for f in denied["findings"]] == [
        ("peruvian-national", "peruvian-national", ["who"])
    ]
    spanish, english = await both(system.intake, "GET", f"/v1/requests/{request_id}", headers=sponsor)
    [es] = [a["reasons"] for a in spanish.json()["applicants"] if a["status"] == "DENIED"]
    [en] = [a["reasons"] for a in english.json()["applicants"] if a["status"] == "DENIED"]
    who = denied["findings"][0]["params"]["who"]
    assert en == [
        f"peruvian-national: {who} is a Peruvian national: the Directorate's statuses are granted to foreigners "
        "only, and a Peruvian enters Peru as a national."
    ]
    assert es == [
        f"peruvian-national: {who} es de nacionalidad peruana: las calidades de la Dirección se otorgan solo a "
        "personas extranjeras, y un peruano ingresa al Perú como nacional."
    ]
    # The officer reads the case's findings in either language too; labels inside a message are translated.
    case_es, case_en = await both(system.authorization, "GET", f"/v1/cases/{request_id}", headers=officer)
    assert any("nacionalidad peruana" in r for r in sum(case_es.json()["violations"].values(), []))
    assert any("Peruvian national" in r for r in sum(case_en.json()["violations"].values(), []))


@pytest.mark.parametrize("policy", ["review"])
async def test_labels_inside_a_reason_are_worded_in_the_readers_language(system, sponsor, officer):
    body = visa_request()
    body["family"][0]["passport"] |= {"type": "OFFICIAL"}  # diplomatic resident: each family member needs one
    request_id = await system.submit(sponsor, body)
    await system.settle()
    spanish, english = await both(system.authorization, "GET", f"/v1/cases/{request_id}", headers=officer)
    es = [r for r in sum(spanish.json()["violations"].values(), []) if r.startswith("diplomatic-passport-required")]
    en = [r for r in sum(english.json()["violations"].values(), []) if r.startswith("diplomatic-passport-required")]
    assert len(es) == len(en) == 1
    assert en[0].endswith("holds an official passport.")
    assert es[0].endswith("es titular de un pasaporte oficial.")
