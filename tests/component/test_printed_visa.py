"""Consular staff print a visa (``GET /v1/visas/{number}/sticker.pdf``, ``visa print``); anyone verifies its seal
offline with the published keys (``GET /v1/seal-keys``, ``visa verify``): docs/domain/visa-document.md.

Issuance seals with the session's key (tests/conftest.py's ``seal_keys``)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from services import cli
from services.issuance.models import ConsularClerk, Visa
from shared.seal import barcode
from tests.support.components import bearer
from tests.support.documents import mrz_lines, page_size_mm, rendered


@pytest.fixture
async def clerk(system) -> dict[str, str]:
    """Headers of a clerk of the consular post."""
    return bearer(await system.issuance.add_account(ConsularClerk, "ck", name="Lucía Huamán"))


@pytest.fixture
async def issued(system, sponsor) -> list[dict]:
    """The visas of one request, issued (policy auto): each applicant's ``visa`` as intake shows it."""
    request_id = await system.submit(sponsor)
    await system.settle()
    return [applicant["visa"] for applicant in (await system.view(sponsor, request_id))["applicants"]]


def invoke(*arguments: str):
    """``visa …`` in a thread: the commands run event loops of their own."""
    return asyncio.to_thread(CliRunner().invoke, cli.app, list(arguments))


async def test_consular_staff_print_a_visa_with_its_mrz(system, clerk, issued):
    visa = issued[0]
    response = await system.issuance.http.get(f"/v1/visas/{visa['number']}/sticker.pdf", headers=clerk)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    width, height = page_size_mm(response.content)
    assert abs(width - 120.0) <= 0.1 and abs(height - 80.0) <= 0.1
    assert mrz_lines(response.content) == visa["mrz"]


async def test_only_consular_staff_print(system, verifier, issued):
    url = f"/v1/visas/{issued[0]['number']}/sticker.pdf"
    assert (await system.issuance.http.get(url)).status_code == 401
    assert (await system.issuance.http.get(url, headers=verifier)).status_code == 401  # a verifier is no clerk
    assert (await system.issuance.http.get(url, headers=bearer("ck_unknown"))).status_code == 401


async def test_an_unknown_number_is_a_404(system, clerk):
    response = await system.issuance.http.get("/v1/visas/PE9999999/sticker.pdf", headers=clerk)
    assert response.status_code == 404
    assert "PE9999999" in response.json()["detail"]


async def test_a_cancelled_visa_is_not_printed(system, clerk, issued):
    number = issued[0]["number"]
    async with system.issuance.app.state.db.transaction() as session:
        visa = await session.get(Visa, 1)
        assert visa.number == number
        visa.cancelled_at = visa.issued_at
    response = await system.issuance.http.get(f"/v1/visas/{number}/sticker.pdf", headers=clerk)
    assert response.status_code == 409 and "cancelled" in response.json()["detail"]


async def test_the_route_documents_its_answers(system):
    document = (await system.issuance.http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/visas/{number}/sticker.pdf"]["get"]
    assert "application/pdf" in operation["responses"]["200"]["content"]
    assert {"401", "404", "409", "422", "429", "503"} <= set(operation["responses"])
    assert "security" in operation
    assert "security" not in document["paths"]["/v1/seal-keys"]["get"]


async def test_the_seal_of_the_printed_visa_verifies_offline(system, clerk, issued, tmp_path, seal_keys):
    visa = issued[0]
    pdf = (await system.issuance.http.get(f"/v1/visas/{visa['number']}/sticker.pdf", headers=clerk)).content
    published = await system.issuance.http.get("/v1/seal-keys")  # public: no key
    assert published.status_code == 200
    [key] = published.json()["keys"]
    assert key["post"] == "LIM" and key["kid"] in seal_keys.published().entries
    keys = tmp_path / "seal-keys.json"
    keys.write_text(published.text)
    image = tmp_path / "scan.png"
    rendered(pdf, dpi=300).save(image)

    result = await invoke("verify", "--image", str(image), "--keys", str(keys))

    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("VALID")
    assert visa["number"] in result.output and "ERIKSSON" in result.output
    for line in visa["mrz"]:
        assert line in result.output


async def test_a_changed_byte_or_an_unknown_key_is_refused_with_the_reason(system, clerk, issued, tmp_path):
    pdf = (await system.issuance.http.get(f"/v1/visas/{issued[0]['number']}/sticker.pdf", headers=clerk)).content
    payload = barcode.read(rendered(pdf))
    keys = tmp_path / "seal-keys.json"
    keys.write_text((await system.issuance.http.get("/v1/seal-keys")).text)
    changed = bytearray(payload)
    changed[40] ^= 0x20  # inside the MRZ

    tampered = await invoke("verify", "--payload", bytes(changed).hex(), "--keys", str(keys))
    assert tampered.exit_code == 1 and "INVALID bad-signature" in tampered.output

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"version": 1, "keys": []}))
    unknown = await invoke("verify", "--payload", payload.hex(), "--keys", str(other))
    assert unknown.exit_code == 1 and "INVALID unknown-key" in unknown.output

    garbage = await invoke("verify", "--payload", "3q2+7w==", "--keys", str(keys))  # base64 of deadbeef
    assert garbage.exit_code == 1 and "INVALID malformed" in garbage.output

    expired = await invoke("verify", "--payload", payload.hex(), "--keys", str(keys), "--on", "2099-01-01")
    assert expired.exit_code == 1 and "INVALID expired" in expired.output


async def test_visa_clerks_add_and_visa_print(system, issued, tmp_path, monkeypatch):
    # The component harness keeps issuance's SQLite file in tmp_path: the commands use the same one.
    monkeypatch.setenv("ISSUANCE_DATABASE_URL", system.issuance.app.state.db.url)
    added = await invoke("clerks", "add", "--name", "Lucía Huamán")
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    assert key.startswith("ck_")
    visa = issued[0]
    assert (await system.issuance.http.get(f"/v1/visas/{visa['number']}/sticker.pdf", headers=bearer(key))).is_success

    printed = await invoke("print", visa["number"], "-o", str(tmp_path / "visa.pdf"))

    assert printed.exit_code == 0, printed.output
    assert mrz_lines((tmp_path / "visa.pdf").read_bytes()) == visa["mrz"]
    missing = await invoke("print", "PE9999999", "-o", str(tmp_path / "none.pdf"))
    assert missing.exit_code == 1 and not (tmp_path / "none.pdf").exists()


async def test_visa_seal_keys_generate_and_list(tmp_path, monkeypatch):
    monkeypatch.setenv("ISSUANCE_SEAL_PUBLIC_KEYS", str(tmp_path / "seal-keys.json"))
    monkeypatch.setenv("ISSUANCE_SEAL_KEYS", str(tmp_path / "private"))
    monkeypatch.setenv("ISSUANCE_POST", "ROM")

    generated = await invoke("seal-keys", "generate")
    listed = await invoke("seal-keys", "list")

    assert generated.exit_code == 0, generated.output
    [kid] = [entry["kid"] for entry in json.loads((tmp_path / "seal-keys.json").read_text())["keys"]]
    assert kid.startswith("ROM") and kid in generated.output
    assert (tmp_path / "private" / f"{kid}.pem").exists()
    assert listed.exit_code == 0 and kid in listed.output and "yes" in listed.output
