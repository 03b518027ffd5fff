"""The sponsors' console: the request form (the principal and the family, each field's error next to it in the
sponsor's language), the sponsor's requests with each person's status and reasons, and the follow-ups the API
offers (renewal, end of functions) where a request allows them.

Every page calls the ``Intake`` use case the API calls, with the API's own body models (``schema``); a pydantic
refusal is worded by ``shared.http.errors.validation_message``, as the API's 422 is. Another sponsor's request is
not found here either.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from shared.console import Console, Visitor, console_secret
from shared.console.forms import errors_by_field, nested
from shared.contracts import FamilyCondition, ImmigrationStatus, PassportType, Relationship, Sex, StaffCategory
from shared.contracts.reasons import render
from shared.i18n import N_, translate

from .models import SponsorRecord, VisaRequest
from .progress import Status
from .renewals import NotRenewable
from .schema import EndOfFunctionsIn, RenewalIn, VisaRequestIn
from .settings import IntakeSettings
from .usecases import IdempotencyConflict, Intake, NothingToEnd, NotInRequest, RequestNotFound

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
MAX_FAMILY = 20  # VisaRequestIn.family's bound

SUBMITTED = N_("Your request was submitted. The Directorate of Privileges receives it now.")
RENEWAL_SUBMITTED = N_("The renewal was submitted as a new request.")
FUNCTIONS_ENDED = N_("The end of functions was notified; MRE revokes the authorizations concerned.")

PERSON_FIELDS = (
    "surnames",
    "given_names",
    "sex",
    "date_of_birth",
    "nationality",
    "passport.number",
    "passport.type",
    "passport.issuing_state",
    "passport.expires_on",
)
REQUEST_FIELDS = (
    "immigration_status",
    "staff_category",
    "note_verbale.number",
    "note_verbale.date",
    "function",
    "intended_arrival",
    "posting_end",
    "intended_departure",
    "apci_registration.number",
    "apci_registration.date",
)
FOLLOW_UP_FIELDS = ("note_verbale.number", "note_verbale.date", "posting_end", "function", "reason", "person_ids")
CHOICES = {
    "immigration_status": list(ImmigrationStatus),
    "staff_category": list(StaffCategory),
    "sex": list(Sex),
    "passport_type": list(PassportType),
    "relationship": list(Relationship),
    "conditions": list(FamilyCondition),
}


def build_console(settings: IntakeSettings) -> Console:
    return Console(
        service="intake",
        account=SponsorRecord,
        templates=TEMPLATES_DIR,
        secret=console_secret(settings),
        title=N_("Sponsors' console"),
        role=N_("a sponsor (an embassy, an international organization, an ENIEX)"),
    )


def family_rows(values: dict[str, Any]) -> int:
    """How many family blocks the form shows: those typed in, at least one."""
    indexes = [
        int(name.split(".")[1]) for name in values if name.startswith("family.") and name.split(".")[1].isdigit()
    ]
    return min(max([*indexes, 0]) + 1 if indexes else 1, MAX_FAMILY)


def form_values(form) -> dict[str, Any]:
    """The form as typed, to show it again: single values, and each checkbox group as ``name[]``."""
    values: dict[str, Any] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or name in ("csrf", "action"):
            continue
        if name.endswith(".conditions") or name == "person_ids":
            values.setdefault(f"{name}[]", []).append(value)
        else:
            values[name] = value
    return values


def request_body(values: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """The API's body from the form, and the form's index of each family member kept (blank blocks are left out)."""
    pairs = [(name, value) for name, value in values.items() if isinstance(value, str) and name != "idempotency_key"]
    pairs += [
        (name.removesuffix("[]"), item) for name, items in values.items() if name.endswith("[]") for item in items
    ]
    blocks: dict[int, list[tuple[str, str]]] = {}
    others = []
    for name, value in pairs:
        parts = name.split(".", 2)
        if parts[0] == "family" and len(parts) == 3 and parts[1].isdigit():
            blocks.setdefault(int(parts[1]), []).append((parts[2], value))
        else:
            others.append((name, value))
    body = nested(others)
    kept: list[int] = []
    members: list[dict[str, Any]] = []
    for index in sorted(blocks):
        if member := nested(blocks[index], lists=("conditions",)):
            kept.append(index)
            members.append(member)
    body["family"] = members
    return body, kept


def field_names(rows: int) -> list[str]:
    names = list(REQUEST_FIELDS) + [f"principal.{name}" for name in PERSON_FIELDS]
    for row in range(rows):
        names += [f"family.{row}.{name}" for name in (*PERSON_FIELDS, "relationship", "conditions")]
    return names


def applicant_views(visa_request: VisaRequest, language: str) -> list[dict[str, Any]]:
    return [
        {
            "applicant": applicant,
            "reasons": [render(reason, language) for reason in applicant.reasons or ()],
        }
        for applicant in visa_request.applicants
    ]


def follow_ups(visa_request: VisaRequest) -> dict[str, bool]:
    """Which follow-ups the request allows now: a renewal once a visa of a resident status is issued; a notice of
    the end of functions while someone holds an authorization or a visa."""
    statuses = {applicant.status for applicant in visa_request.applicants}
    resident = visa_request.immigration_status != ImmigrationStatus.SHORT_STAY
    return {
        "renewal": resident and Status.ISSUED in statuses,
        "end_of_functions": bool(statuses & {Status.AUTHORIZED, Status.ISSUED}),
    }


def install(app: FastAPI, settings: IntakeSettings) -> None:
    console = build_console(settings)
    pages = APIRouter(prefix="/console", include_in_schema=False)

    def intake(request: Request) -> Intake:
        return request.app.state.intake

    def form_page(
        request: Request,
        visitor: Visitor,
        values: dict[str, Any],
        *,
        errors: dict[str, list[str]] | None = None,
        apart: list[str] | None = None,
        rows: int | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        values.setdefault("idempotency_key", str(uuid.uuid4()))
        return console.render(
            request,
            visitor,
            "request_form.html",
            status_code=status_code,
            values=values,
            errors=errors or {},
            apart=apart or [],
            rows=rows or family_rows(values),
            choices=CHOICES,
            section="new",
        )

    async def request_page(
        request: Request,
        visitor: Visitor,
        visa_request: VisaRequest,
        *,
        status_code: int = 200,
        form: str | None = None,
        values: dict[str, Any] | None = None,
        errors: dict[str, list[str]] | None = None,
        refusal: str | None = None,
    ) -> HTMLResponse:
        return console.render(
            request,
            visitor,
            "request.html",
            status_code=status_code,
            visa_request=visa_request,
            people=applicant_views(visa_request, visitor.language),
            follow_ups=follow_ups(visa_request),
            form=form,
            values=values or {},
            errors=errors or {},
            refusal=refusal,
            renewal_key=str(uuid.uuid4()),
            section="requests",
        )

    @pages.get("/", response_class=HTMLResponse)
    async def requests(request: Request) -> HTMLResponse:
        visitor = await console.signed_in(request)
        found = await intake(request).requests_of(visitor.account, 200)
        return console.render(
            request,
            visitor,
            "requests.html",
            requests=[(row, applicant_views(row, visitor.language)) for row in found],
            section="requests",
        )

    @pages.get("/requests/new", response_class=HTMLResponse)
    async def new_request(request: Request) -> HTMLResponse:
        visitor = await console.signed_in(request)
        return form_page(request, visitor, {})

    @pages.post("/requests/new", response_class=HTMLResponse)
    async def submit(request: Request) -> Response:
        visitor, form = await console.posted(request)
        values = form_values(form)
        rows = family_rows(values)
        if form.get("action") == "add-member":  # one more family block, nothing submitted yet
            return form_page(request, visitor, values, rows=min(rows + 1, MAX_FAMILY))
        body, kept = request_body(values)
        try:
            accepted = VisaRequestIn.model_validate(body)
        except ValidationError as invalid:
            rename = {("family", position): ("family", index) for position, index in enumerate(kept)}
            errors, apart = errors_by_field(invalid, visitor.language, field_names(rows), rename=rename)
            return form_page(request, visitor, values, errors=errors, apart=apart, rows=rows, status_code=422)
        key = str(values.get("idempotency_key") or "")[:200] or None
        try:
            request_id = await intake(request).submit(visitor.account, accepted, key)
        except IdempotencyConflict as error:
            return form_page(request, visitor, values, apart=[error.message.render(visitor.language)], status_code=409)
        console.flash(visitor, translate(SUBMITTED, visitor.language))
        return console.redirect(request, visitor, f"/console/requests/{request_id}")

    @pages.get("/requests/{request_id}", response_class=HTMLResponse)
    async def show(request: Request, request_id: str) -> HTMLResponse:
        visitor = await console.signed_in(request)
        try:
            visa_request = await intake(request).request_of(visitor.account, request_id)
        except RequestNotFound:
            return console.not_found(request, visitor)
        return await request_page(request, visitor, visa_request)

    async def follow_up(request: Request, request_id: str, kind: str) -> Response:
        visitor, form = await console.posted(request)
        values = form_values(form)
        try:
            visa_request = await intake(request).request_of(visitor.account, request_id)
        except RequestNotFound:
            return console.not_found(request, visitor)
        pairs = [(name, value) for name, value in values.items() if isinstance(value, str)]
        body = nested(pairs)
        if people := values.get("person_ids[]"):
            body["person_ids"] = people
        body.pop("idempotency_key", None)
        try:
            if kind == "renewal":
                renewal = RenewalIn.model_validate(body)
                new_id = await intake(request).renew(
                    visitor.account, request_id, renewal, str(values.get("idempotency_key") or "") or None
                )
                console.flash(visitor, translate(RENEWAL_SUBMITTED, visitor.language))
                return console.redirect(request, visitor, f"/console/requests/{new_id}")
            notice = EndOfFunctionsIn.model_validate(body)
            await intake(request).end_functions(visitor.account, request_id, notice)
            console.flash(visitor, translate(FUNCTIONS_ENDED, visitor.language))
            return console.redirect(request, visitor, f"/console/requests/{request_id}")
        except ValidationError as invalid:
            errors, apart = errors_by_field(invalid, visitor.language, FOLLOW_UP_FIELDS)
            if apart:
                errors[""] = apart
            return await request_page(
                request, visitor, visa_request, status_code=422, form=kind, values=values, errors=errors
            )
        except (NotInRequest, NothingToEnd, IdempotencyConflict) as error:
            refusal = error.message.render(visitor.language)
        except NotRenewable as error:
            refusal = str(error)
        return await request_page(request, visitor, visa_request, status_code=409, form=kind, refusal=refusal)

    @pages.post("/requests/{request_id}/renewal", response_class=HTMLResponse)
    async def renew(request: Request, request_id: str) -> Response:
        return await follow_up(request, request_id, "renewal")

    @pages.post("/requests/{request_id}/end-of-functions", response_class=HTMLResponse)
    async def end_functions(request: Request, request_id: str) -> Response:
        return await follow_up(request, request_id, "end_of_functions")

    console.install(app, pages)
