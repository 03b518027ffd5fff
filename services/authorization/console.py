"""The officers' console: the case queue (filters, counts, oldest first) and each case's page (the request, every
person with every rule's result, the case's history, and the actions it allows now).

Every action calls the ``Directorate``'s use case the API calls, with the API's own body models (``api.GrantIn``,
``ReasonIn``, ``RevocationIn``); what is offered is ``offers.offered``, and a forced action the use case refuses
is shown as its refusal, in the officer's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from shared.console import Console, Visitor, console_secret, labels
from shared.console.forms import errors_by_field
from shared.contracts import Decision, ImmigrationStatus
from shared.contracts.reasons import TEMPLATES, render
from shared.i18n import N_, Message, translate

from .api import CASE_REFUSALS, GrantIn, ReasonIn, RevocationIn
from .cases import AssignedToAnother, CaseState, InvalidTransition, NothingToRevoke, NotPending
from .models import Case, Officer
from .offers import Action, offered
from .settings import AuthorizationSettings
from .usecases import POLICY, SPONSOR, CaseNotFound, Directorate, UnknownPeople

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# Every rule a person is judged by, in the order the rulebook words them (an officer's own reason is not a rule).
RULES = tuple(dict.fromkeys(message.split("/")[0] for message in TEMPLATES if message.split("/")[0] != "officer"))
ASSIGNED = ("", "me", "nobody")

TAKEN = N_("You hold this case now.")
RELEASED = N_("The case is released: any officer may take it.")
DECIDED = N_("The case is decided: {state}.")
REVOKED = N_("The revocation is recorded; the consulate cancels the visas concerned.")
REFUSED = N_("Refused: {reason}")


def build_console(settings: AuthorizationSettings) -> Console:
    return Console(
        service="authorization",
        account=Officer,
        templates=TEMPLATES_DIR,
        secret=console_secret(settings),
        title=N_("Officers' console"),
        role=N_("an officer of the Directorate of Privileges"),
    )


def _rule_of(reason: Any) -> str:
    if isinstance(reason, dict):
        return str(reason.get("rule", ""))
    return str(reason).partition(":")[0].strip()


def person_view(person: dict, role: str, case: Case, language: str) -> dict[str, Any]:
    """One person of a case: who, each rule's result, and the decision once made."""
    found = (case.violations or {}).get(person["person_id"], [])
    broken: dict[str, list[str]] = {}
    for reason in found:
        broken.setdefault(_rule_of(reason), []).append(render(reason, language))
    decision = next((d for d in case.decisions or () if d.get("person_id") == person["person_id"]), None)
    return {
        "person": person,
        "role": role,
        "rules": [(rule, broken.get(rule, [])) for rule in RULES]
        + [(rule, texts) for rule, texts in broken.items() if rule not in RULES],
        "decision": decision,
        "decision_reasons": [render(reason, language) for reason in (decision or {}).get("reasons", ())],
    }


def history(case: Case, language: str) -> list[tuple[str, str]]:
    """What happened to the case, oldest first: (when, what), in ``language``."""
    events: list[tuple[Any, str, dict[str, Any]]] = [(case.opened_at, N_("Request received"), {})]
    if case.assigned_at is not None and case.assigned_to is not None:
        events.append((case.assigned_at, N_("Taken by officer {officer}"), {"officer": case.assigned_to}))
    if case.decided_at is not None:
        state = translate(labels.of(decided_state(case)), language)
        if case.decided_by == POLICY:
            events.append((case.decided_at, N_("Decided by the policy: {state}"), {"state": state}))
        else:
            events.append(
                (
                    case.decided_at,
                    N_("Decided by officer {officer}: {state}"),
                    {"officer": case.decided_by, "state": state},
                )
            )
    for revocation in case.revocations or ():
        by = revocation.get("revoked_by", "")
        msgid = (
            N_("Revoked on the sponsor's notice for {count} people: {reason}")
            if by == SPONSOR
            else N_("Revoked by officer {officer} for {count} people: {reason}")
        )
        fields = {"officer": by, "count": len(revocation.get("person_ids", ())), "reason": revocation.get("reason", "")}
        events.append((revocation.get("revoked_at", ""), msgid, fields))
    ordered = sorted(events, key=lambda event: _instant(event[0]))
    return [
        (_instant(when)[:16].replace("T", " "), translate(msgid, language, **fields)) for when, msgid, fields in ordered
    ]


def _instant(when: Any) -> str:
    return when.isoformat() if hasattr(when, "isoformat") else str(when)


def decided_state(case: Case) -> str:
    """The outcome the decision had (a case revoked since was granted)."""
    if case.decisions and any(d.get("decision") == Decision.GRANTED for d in case.decisions):
        return CaseState.GRANTED
    if case.decisions and all(d.get("decision") == CaseState.NOT_REQUIRED for d in case.decisions):
        return CaseState.NOT_REQUIRED
    return CaseState.DENIED


def refusal_text(error: Exception, language: str) -> str:
    if isinstance(error, (InvalidTransition, NotPending, AssignedToAnother, NothingToRevoke)):
        recognized = Message.recognize(str(error), *CASE_REFUSALS)
        return recognized.render(language) if isinstance(recognized, Message) else str(error)
    if isinstance(error, (CaseNotFound, UnknownPeople)):
        return error.message.render(language)
    return str(error)


def install(app: FastAPI, settings: AuthorizationSettings) -> None:
    console = build_console(settings)
    pages = APIRouter(prefix="/console", include_in_schema=False)

    def directorate(request: Request) -> Directorate:
        return request.app.state.directorate

    async def case_page(
        request: Request,
        visitor: Visitor,
        case: Case,
        *,
        status_code: int = 200,
        errors: dict[str, dict[str, list[str]]] | None = None,
        values: dict[str, str] | None = None,
        refusal: str | None = None,
    ) -> HTMLResponse:
        language = visitor.language
        submission = case.submission
        people = [person_view(submission["principal"], "PRINCIPAL", case, language)] + [
            person_view(member, "FAMILY", case, language) for member in submission.get("family", ())
        ]
        revoked = {p for r in case.revocations or () for p in r.get("person_ids", ())}
        revocable = [
            view["person"]
            for view in people
            if (view["decision"] or {}).get("decision") == Decision.GRANTED
            and view["person"]["person_id"] not in revoked
        ]
        return console.render(
            request,
            visitor,
            "case.html",
            status_code=status_code,
            case=case,
            submission=submission,
            people=people,
            history=history(case, language),
            decided_state=decided_state(case),
            actions=offered(CaseState(case.state), case.assigned_to, visitor.account.id),
            Action=Action,
            revocable=revocable,
            revoked=revoked,
            errors=errors or {},
            values=values or {},
            refusal=refusal,
        )

    @pages.get("/", response_class=HTMLResponse)
    async def queue(request: Request, state: str = "PENDING", status: str = "", assigned: str = "") -> HTMLResponse:
        visitor = await console.signed_in(request)
        chosen_state = CaseState(state) if state in CaseState.__members__ else CaseState.PENDING
        chosen_status = ImmigrationStatus(status) if status in ImmigrationStatus.__members__ else None
        chosen_assigned = assigned if assigned in ASSIGNED else ""
        officer_id = visitor.account.id
        found = await directorate(request).cases(
            chosen_state,
            immigration_status=chosen_status,
            assigned_to=officer_id if chosen_assigned == "me" else None,
            unassigned=chosen_assigned == "nobody",
            limit=500,
        )
        return console.render(
            request,
            visitor,
            "queue.html",
            cases=found,
            counts=await directorate(request).counts(),
            state=chosen_state,
            status=chosen_status or "",
            assigned=chosen_assigned,
            states=list(CaseState),
            statuses=list(ImmigrationStatus),
        )

    @pages.get("/cases/{request_id}", response_class=HTMLResponse)
    async def case_detail(request: Request, request_id: str) -> HTMLResponse:
        visitor = await console.signed_in(request)
        try:
            case = await directorate(request).case(request_id)
        except CaseNotFound:
            return console.not_found(request, visitor)
        return await case_page(request, visitor, case)

    async def act(request: Request, request_id: str, action: Action) -> Response:
        visitor, form = await console.posted(request)
        officer_id, language = visitor.account.id, visitor.language
        directorate_ = directorate(request)
        values = {name: value for name, value in form.items() if isinstance(value, str) and name != "csrf"}
        try:
            if action is Action.TAKE:
                await directorate_.take(request_id, officer_id=officer_id)
                notice = translate(TAKEN, language)
            elif action is Action.RELEASE:
                await directorate_.release(request_id, officer_id=officer_id)
                notice = translate(RELEASED, language)
            elif action is Action.GRANT:
                denials = {
                    name.removeprefix("deny."): value.strip()
                    for name, value in values.items()
                    if name.startswith("deny.") and value.strip()
                }
                body = GrantIn.model_validate({"deny": denials})
                case = await directorate_.grant(request_id, officer_id=officer_id, denials=body.deny)
                notice = translate(DECIDED, language, state=translate(labels.of(case.state), language))
            elif action is Action.DENY:
                body = ReasonIn.model_validate({"reason": values.get("reason", "").strip()})
                case = await directorate_.deny(request_id, officer_id=officer_id, reason=body.reason)
                notice = translate(DECIDED, language, state=translate(labels.of(case.state), language))
            else:
                revoking = RevocationIn.model_validate(
                    {
                        "reason": values.get("reason", "").strip(),
                        "person_ids": [v for v in form.getlist("person_ids") if isinstance(v, str)],
                    }
                )
                await directorate_.revoke(
                    request_id,
                    officer_id=officer_id,
                    reason=revoking.reason,
                    person_ids=tuple(dict.fromkeys(revoking.person_ids)),
                )
                notice = translate(REVOKED, language)
        except ValidationError as invalid:
            names = [name for name in values if name.startswith("deny.")] + ["reason", "person_ids"]
            by_field, apart = errors_by_field(invalid, language, names)
            try:
                case = await directorate_.case(request_id)
            except CaseNotFound:
                return console.not_found(request, visitor)
            errors = {action.value: by_field | ({"": apart} if apart else {})}
            return await case_page(request, visitor, case, status_code=422, errors=errors, values=values)
        except CaseNotFound:
            return console.not_found(request, visitor)
        except (InvalidTransition, NotPending, AssignedToAnother, NothingToRevoke, UnknownPeople) as error:
            case = await directorate_.case(request_id)
            refusal = translate(REFUSED, language, reason=refusal_text(error, language))
            return await case_page(request, visitor, case, status_code=409, refusal=refusal)
        console.flash(visitor, notice)
        return console.redirect(request, visitor, f"/console/cases/{request_id}")

    def route(action: Action):
        async def endpoint(request: Request, request_id: str) -> Response:
            return await act(request, request_id, action)

        return endpoint

    for action in Action:
        pages.add_api_route(
            f"/cases/{{request_id}}/{action.value}", route(action), methods=["POST"], response_class=HTMLResponse
        )

    console.install(app, pages)
