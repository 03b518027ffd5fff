"""The Directorate's use cases: every way into authorization's domain goes through here.

The officers' HTTP API (and any console or command to come) calls the commands and queries; the event
consumer calls ``receive`` and ``record_visa`` inside the unit of work the bus opened for the event's inbox
entry. The decisions themselves are pure: ``rules.assess`` judges a request, ``cases.decide`` turns the
judgement and the officer's denials into per-person decisions, ``cases.conclusion`` sets apart the people a
waiver treaty covers (NOT_REQUIRED: neither granted nor denied), ``cases.transition`` guards the case's life,
and ``cases.holder_after_take|release|decision`` say which officer may act on it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import String, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock
from shared.contracts import (
    AuthorizationNotRequired,
    AuthorizationRevoked,
    Decision,
    EventData,
    FunctionsEnded,
    ImmigrationStatus,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.i18n import N_, Refusal
from shared.messaging import AtOnce, OneWrite, PoisonEvent, UnitOfWork
from shared.observability.logs import bind_request
from shared.posts import Posts, PostsFile, UnknownPost
from shared.privacy import failure_kind

from .cases import (
    CaseState,
    InvalidTransition,
    NothingToRevoke,
    Revocation,
    conclusion,
    decide,
    finding,
    holder_after_decision,
    holder_after_release,
    holder_after_take,
    in_force,
    post_after_assignment,
    revocation,
    transition,
)
from .models import Case
from .rulebook import Rulebook, packaged
from .rules import Assessment, WaiverLookup, assess
from .settings import Policy

log = logging.getLogger("visa.authorization")

POLICY = "policy"
# Who revokes on a sponsor's notice of the end of functions (``revoked_by``), as ``policy`` decides automatically.
SPONSOR = "sponsor"


# The event handlers ``receive`` and ``record_visa`` run once per consumed event: they read and write the cases
# table with Core statements, built once here (SQLAlchemy caches their compiled form). The ORM's identity map,
# object loading and flush cost more than these statements on that path (docs/performance.md); the officers'
# commands and the queries, far rarer, keep the ORM.
_cases = Case.__table__
# A case is opened once per request: a second RequestSubmitted of the same request (another event id) inserts nothing,
# and learns it from no key coming back.
_OPEN_CASE = {
    name: dialect.insert(_cases).on_conflict_do_nothing(index_elements=["request_id"]).returning(_cases.c.request_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
# One statement records a person's visa in the case's visas, when the case gave that authorization; the row's key
# comes back when it did. On PostgreSQL the UPDATE's own row lock serializes it with the other events of the request
# (waiting for it, PostgreSQL applies the change to the row as the other transaction left it); on SQLite the
# transaction holds the database's write lock already.
_WHICH_CASE = (
    _cases.c.request_id == bindparam("case_request_id"),
    _cases.c.authorization_id == bindparam("case_authorization_id"),
)
_PERSON_VISA = (bindparam("person_id", type_=String), bindparam("visa_number", type_=String))
_RECORD_VISA = {
    "postgresql": update(_cases)
    .where(*_WHICH_CASE)
    .values(
        visas=cast(cast(_cases.c.visas, JSONB).op("||")(func.jsonb_build_object(*_PERSON_VISA)), _cases.c.visas.type)
    )
    .returning(_cases.c.request_id),
    # SQLite's JSON functions: the object merged with {person: visa} (RFC 7396), the JSON text the column holds.
    "sqlite": update(_cases)
    .where(*_WHICH_CASE)
    .values(visas=func.json_patch(_cases.c.visas, func.json_object(*_PERSON_VISA)))
    .returning(_cases.c.request_id),
}


def _visa_of(issued: VisaIssued) -> dict:
    """``_RECORD_VISA``'s parameters for a visa issued."""
    return {
        "case_request_id": issued.request_id,
        "case_authorization_id": issued.authorization_id,
        "person_id": issued.person_id,
        "visa_number": issued.visa_number,
    }


def _recorded(issued: VisaIssued, cases: int) -> None:
    if not cases:
        log.warning("visa %s names an authorization this Directorate did not give", issued.visa_number)


@dataclass
class _NewCase:
    """The case ``receive`` opens, as the row it inserts once decided or left pending: ``_conclude`` decides it
    as it decides a ``Case`` an officer acts on."""

    request_id: str
    authorization_id: str
    state: CaseState
    submission: dict
    sponsor_id: str | None
    immigration_status: str | None
    violations: dict
    opened_at: dt.datetime
    post: str | None
    visas: dict = field(default_factory=dict)
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decisions: list | None = None

    def row(self) -> dict:
        """The columns set, as the ORM inserted them: one never set is left out and stays NULL (a JSON column
        given None would hold the JSON ``null``)."""
        return {column: value for column, value in vars(self).items() if value is not None}


class Waivers(Protocol):
    """The treaty list as the Directorate reads it (``shared.treaties.TreatyCache`` fits)."""

    async def current(self) -> WaiverLookup: ...


class CaseNotFound(Refusal, LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(N_("no case for request {request_id}"), request_id=request_id)


class UnknownPeople(Refusal, ValueError):
    def __init__(self, person_ids: set[str]) -> None:
        super().__init__(N_("deny: unknown person ids {person_ids}"), person_ids=sorted(person_ids))


@contextmanager
def _about_content(request: RequestSubmitted) -> Iterator[None]:
    """Around pure domain code only: its ``ValueError`` or ``ArithmeticError`` is about the event's data.

    No retry can change the data, so the event is poison at once (dead-lettered on its first delivery,
    for an operator to inspect and replay once the code is fixed) instead of being retried to its
    delivery limit. Database and broker failures happen outside this block and keep being retried.
    Implausible data does not get here: the rule ``implausible-request`` denies it (docs/plausibility.md).
    """
    try:
        yield
    except (ValueError, ArithmeticError) as error:
        raise PoisonEvent(f"request {request.request_id} cannot be assessed: {failure_kind(error)}") from error


class Directorate:
    def __init__(
        self,
        *,
        units: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
        reads: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        policy: Policy,
        treaties: Waivers,
        clock: Clock,
        rulebook: Rulebook | None = None,
        posts: Callable[[], Posts] | None = None,
    ) -> None:
        self.units = units
        self.reads = reads
        self.policy = policy
        self.treaties = treaties
        self.clock = clock
        # The consular posts as configured now (shared/posts.py: read again when the file changes).
        self.posts = posts or PostsFile().current
        # Who counts as family, which staff may ask for which status (docs/domain/family.md, docs/domain/staff.md).
        self.rulebook = rulebook or packaged()

    def handlers(self) -> Mapping[type[EventData], Callable]:
        """The events this service consumes, each with its use case (``registry.AUTHORIZATION.handles``)."""
        return {
            RequestSubmitted: self.receive,
            FunctionsEnded: self.end_functions,
            VisaIssued: AtOnce(self.record_visa, self._visa_recorded),
        }

    # --- events ---------------------------------------------------------------------------------------

    async def receive(self, uow: UnitOfWork, request: RequestSubmitted) -> None:
        """A request arrives: the rules judge it, then the policy decides or it waits for an officer.

        The new case is one row inserted at the end, decided or pending: no ORM object (``_NewCase``).
        """
        connection = await uow.session.connection()
        emitted = len(uow.emitted)
        assessment = await self._assess(uow, request)
        case = _NewCase(
            request_id=request.request_id,
            authorization_id=str(uuid.uuid4()),
            state=CaseState.PENDING,
            submission=request.model_dump(mode="json"),
            sponsor_id=request.sponsor.id,
            immigration_status=request.immigration_status,
            # Codes and parameters, never sentences: each reader words them in its language (contracts/reasons.py).
            violations={p.person_id: [finding(v).model_dump() for v in p.violations] for p in assessment.people},
            opened_at=self.clock.now(),
            visas={},
            post=await self._issuing_post(uow.session, request),
        )
        # A request nobody is eligible for is denied at once, with the rules it breaks; one whose eligible people
        # a waiver treaty all covers is answered at once too: there is no visa for an officer to grant.
        if not assessment.anyone_needs_a_visa or self.policy is Policy.AUTO:
            await self._conclude(uow, case, request, assessment, decided_by=POLICY)
        else:
            await uow.emit(ReviewStarted(request_id=request.request_id, case_id=case.authorization_id))
            log.info("request %s awaits an officer", request.request_id)
        if (await connection.execute(_OPEN_CASE[connection.dialect.name], case.row())).first() is None:
            # The request has its case already: what this one decided stays unsaid (one statement, where a read
            # before the rules would cost every request one more).
            uow.take_back(emitted)
            log.warning("request %s submitted twice under different event ids; kept the first", request.request_id)

    async def record_visa(self, uow: UnitOfWork, issued: VisaIssued) -> None:
        """The Directorate knows which visas stand on its authorizations: a revocation names them.

        One ``UPDATE`` sets the person's visa in the case's visas (Core, as for ``receive``): a visa reported again
        changes nothing, one naming another authorization matches no case.
        """
        connection = await uow.session.connection()
        recorded = await connection.execute(_RECORD_VISA[connection.dialect.name], _visa_of(issued))
        _recorded(issued, len(recorded.all()))

    def _visa_recorded(self, issued: VisaIssued) -> OneWrite:
        """``record_visa`` as one write (PostgreSQL): the bus runs it with the event's inbox claim, in one statement."""
        return OneWrite(_RECORD_VISA["postgresql"], _visa_of(issued), lambda count: _recorded(issued, count))

    async def end_functions(self, uow: UnitOfWork, notice: FunctionsEnded) -> None:
        """The sponsor notifies the end of functions: the people concerned lose their authorization (the principal
        takes the family with them), and the consulate cancels their visas. A second notice, or one about a case
        not granted, has no effect."""
        case = await uow.session.get(Case, notice.request_id, with_for_update=True)
        if case is None:
            log.warning("end of functions for request %s, which has no case here: ignored", notice.request_id)
            return
        try:
            revoking = self._revocation(case, notice.person_ids)
        except (InvalidTransition, NothingToRevoke) as nothing:
            log.info("end of functions for request %s has no further effect: %s", notice.request_id, nothing)
            return
        note = notice.note_verbale
        reason = f"end of functions: {notice.reason} (note verbale {note.number} of {note.date})"
        await self._revoke(uow, case, revoking, reason=reason, revoked_by=SPONSOR)

    # --- officers' commands ---------------------------------------------------------------------------

    async def take(self, request_id: str, *, officer_id: str) -> Case:
        """The officer takes a pending case: nobody else may decide or release it until they do.

        Taking one's own case again changes nothing (``assigned_at`` stays the first time's); another's is
        refused (``AssignedToAnother``), a decided one too (``NotPending``).
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            holder = holder_after_take(CaseState(case.state), case.assigned_to, officer_id)
            if case.assigned_to != holder:
                case.assigned_to, case.assigned_at = holder, self.clock.now()
                log.info("request %s taken by %s", request_id, officer_id)
        return case

    async def release(self, request_id: str, *, officer_id: str) -> Case:
        """The officer who holds a pending case gives it back: any officer may take or decide it again.

        Releasing a case nobody holds changes nothing; another's is refused, a decided one too.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            holder_after_release(CaseState(case.state), case.assigned_to, officer_id)
            if case.assigned_to is not None:
                case.assigned_to, case.assigned_at = None, None
                log.info("request %s released by %s", request_id, officer_id)
        return case

    async def grant(self, request_id: str, *, officer_id: str, denials: Mapping[str, str]) -> Case:
        """Grant everyone the rules allow, except the people the officer denies by name (id -> reason).

        As for ``deny``, the case must be pending and the officer's or nobody's; it is theirs from then on.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            self._claim(case, officer_id=officer_id, target=CaseState.GRANTED)
            request = RequestSubmitted.model_validate(case.submission)
            unknown = set(denials) - {person.person_id for person in request.people}
            if unknown:
                raise UnknownPeople(unknown)
            await self._decide(uow, case, request, officer_id=officer_id, denials=denials)
        return case

    async def deny(self, request_id: str, *, officer_id: str, reason: str) -> Case:
        """Deny everyone in the request, with the officer's reason (kept in each person's decision)."""
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            self._claim(case, officer_id=officer_id, target=CaseState.DENIED)
            request = RequestSubmitted.model_validate(case.submission)
            await self._decide(uow, case, request, officer_id=officer_id, denials={"*": reason})
        return case

    async def revoke(self, request_id: str, *, officer_id: str, reason: str, person_ids: tuple[str, ...] = ()) -> Case:
        """Revoke the authorization of the people named, or of everyone: the consulate cancels their visas, and
        issues none they were granted but not issued yet. Revoking the principal revokes the family too.

        Any officer may revoke a granted case, whoever holds or decided it: revocation answers what happens
        after the grant (an end of mission, a persona non grata), and a grant by the policy has no officer.
        Refused for someone already revoked or never granted (``NothingToRevoke``) and for a case not granted.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            known = {person.person_id for person in RequestSubmitted.model_validate(case.submission).people}
            if unknown := set(person_ids) - known:
                raise UnknownPeople(unknown)
            await self._revoke(uow, case, self._revocation(case, person_ids), reason=reason, revoked_by=officer_id)
        return case

    async def assign_post(self, request_id: str, *, officer_id: str, post: str) -> Case:
        """The officer sends a pending case to another consular post, which will issue its visas.

        Who may is as for a take (``cases.post_after_assignment``): the case is pending and the officer's or
        nobody's; the holder does not change. Refused for a post not in the list (``UnknownPost``), a decided case
        (``NotPending``), another officer's (``AssignedToAnother``) and a renewal (``RenewalKeepsPost``).
        """
        bind_request(request_id)
        code = self.posts().get(post).code
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            renewal = bool(case.submission.get("renews"))
            new_post = post_after_assignment(CaseState(case.state), case.assigned_to, officer_id, code, renewal=renewal)
            if case.post != new_post:
                case.post = new_post
                log.info("request %s assigned to post %s by %s", request_id, new_post, officer_id)
        return case

    # --- queries --------------------------------------------------------------------------------------

    async def cases(
        self,
        state: CaseState = CaseState.PENDING,
        *,
        immigration_status: ImmigrationStatus | None = None,
        sponsor_id: str | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        limit: int = 100,
    ) -> list[Case]:
        """Cases in ``state``, oldest first; only those of ``immigration_status``, of the sponsor ``sponsor_id``,
        held by the officer ``assigned_to``, or held by nobody (``unassigned``), when given."""
        query = select(Case).where(Case.state == state)
        if immigration_status is not None:
            query = query.where(Case.immigration_status == immigration_status)
        if sponsor_id is not None:
            query = query.where(Case.sponsor_id == sponsor_id)
        if assigned_to is not None:
            query = query.where(Case.assigned_to == assigned_to)
        if unassigned:
            query = query.where(Case.assigned_to.is_(None))
        async with self.reads() as session:
            return list(await session.scalars(query.order_by(Case.opened_at, Case.request_id).limit(limit)))

    async def case(self, request_id: str) -> Case:
        async with self.reads() as session:
            return await self._case(session, request_id)

    async def counts(self) -> dict[CaseState, int]:
        """How many cases are in each state (the officers' queue shows them)."""
        async with self.reads() as session:
            rows = await session.execute(select(Case.state, func.count()).group_by(Case.state))
        found = {CaseState(state): count for state, count in rows.all()}
        return {state: found.get(state, 0) for state in CaseState}

    # --- the steps ------------------------------------------------------------------------------------

    @staticmethod
    async def _case(session: AsyncSession, request_id: str, *, for_update: bool = False) -> Case:
        # Acting on a case locks it: two officers deciding at once cannot both decide.
        case = await session.get(Case, request_id, with_for_update=for_update)
        if case is None:
            raise CaseNotFound(request_id)
        return case

    async def _issuing_post(self, session: AsyncSession, request: RequestSubmitted) -> str:
        """The consular post a new case goes to: a renewal's is the post of the request it renews (that post
        supersedes the visas it renews), dependants joining an authorization go to its post (where the family's
        visas are), otherwise the sponsor's choice, or the default post.

        A post the list does not know (the sponsor's list at intake and this one disagree) makes the event poison:
        dead-lettered for an operator, who adds the post to VISA_POSTS and replays it, rather than issued elsewhere.
        """
        posts = self.posts()
        earlier_id = request.renews[0].request_id if request.renews else request.joins
        if earlier_id is not None:
            earlier = await session.get(Case, earlier_id)
            if earlier is not None:
                post = earlier.post or posts.default
                if request.post is not None and request.post != post:
                    log.warning(
                        "request %s names post %s; kept %s, the post of request %s",
                        request.request_id,
                        request.post,
                        post,
                        earlier_id,
                    )
                return post
        try:
            return posts.chosen(request.post)
        except UnknownPost as unknown:
            raise PoisonEvent(f"request {request.request_id}: post {request.post} {unknown}") from unknown

    async def _assess(self, uow: UnitOfWork, request: RequestSubmitted) -> Assessment:
        # The requests handled together (one transaction) are judged on one reading of the treaty list.
        waivers = await uow.once("treaties", self.treaties.current)
        in_force_there = True
        if request.joins is not None:  # dependants joining: the principal's authorization must be in force
            joined = await uow.session.get(Case, request.joins)
            in_force_there = joined is not None and self._in_force(joined, request.principal.person_id)
        with _about_content(request):
            return assess(
                request,
                today=self.clock.today(),
                waivers=waivers,
                rulebook=self.rulebook,
                principal_authorized=in_force_there,
            )

    @staticmethod
    def _granted_and_revoked(case: Case) -> tuple[list[str], set[str]]:
        granted = [d["person_id"] for d in case.decisions or () if d["decision"] == Decision.GRANTED]
        revoked = {person_id for earlier in case.revocations or () for person_id in earlier["person_ids"]}
        return granted, revoked

    @classmethod
    def _in_force(cls, case: Case, person_id: str) -> bool:
        return in_force(CaseState(case.state), person_id, *cls._granted_and_revoked(case))

    @classmethod
    def _revocation(cls, case: Case, person_ids: tuple[str, ...]) -> Revocation:
        granted, revoked = cls._granted_and_revoked(case)
        principal_id = case.submission["principal"]["person_id"]
        return revocation(CaseState(case.state), principal_id, granted, revoked, person_ids)

    async def _revoke(self, uow: UnitOfWork, case: Case, revoking: Revocation, *, reason: str, revoked_by: str) -> None:
        """Record a revocation on the case and publish it: exactly the people revoked, and their visas known so far
        (a visa issued meanwhile is still covered: the consulate matches people as well as numbers)."""
        now = self.clock.now()
        case.revocations = [
            *(case.revocations or ()),
            {
                "person_ids": list(revoking.person_ids),
                "reason": reason,
                "revoked_by": revoked_by,
                "revoked_at": now.isoformat(),
            },
        ]
        case.state = revoking.state
        if revoking.state is CaseState.REVOKED:
            case.revoked_at, case.revocation_reason, case.revoked_by = now, reason, revoked_by
        await uow.emit(
            AuthorizationRevoked(
                request_id=case.request_id,
                authorization_id=case.authorization_id,
                person_ids=revoking.person_ids,
                visa_numbers=tuple(sorted(case.visas[p] for p in revoking.person_ids if p in case.visas)),
                reason=reason,
                revoked_by=revoked_by,
                revoked_at=now,
                # The post that issued the visas: only its issuance receives the revocation.
                post=case.post or self.posts().default,
            )
        )
        log.info(
            "authorization %s revoked for %d people by %s", case.authorization_id, len(revoking.person_ids), revoked_by
        )
        principal_id = case.submission["principal"]["person_id"]
        if principal_id in revoking.person_ids and case.submission.get("joins") is None:
            # Dependants who joined later hold their status through this principal too: they lose it with theirs.
            for joined in await self._joined(uow.session, case):
                with suppress(NothingToRevoke, InvalidTransition):
                    await self._revoke(uow, joined, self._revocation(joined, ()), reason=reason, revoked_by=revoked_by)

    @staticmethod
    async def _joined(session: AsyncSession, case: Case) -> list[Case]:
        """The granted cases of dependants who joined ``case``'s authorization later, locked."""
        query = select(Case).where(Case.sponsor_id == case.sponsor_id, Case.state == CaseState.GRANTED)
        found = await session.scalars(query.order_by(Case.opened_at).with_for_update())
        return [other for other in found if other.submission.get("joins") == case.request_id]

    def _claim(self, case: Case, *, officer_id: str, target: CaseState) -> None:
        """Before an officer decides, first of all: the case is pending, and theirs or nobody's; it is theirs from
        now on (a refusal after this rolls the unit of work back, the assignment with it)."""
        if case.state != CaseState.PENDING:
            raise InvalidTransition(CaseState(case.state), target)
        holder = holder_after_decision(case.assigned_to, officer_id)
        if case.assigned_to != holder:
            case.assigned_to, case.assigned_at = holder, self.clock.now()

    async def _decide(
        self,
        uow: UnitOfWork,
        case: Case,
        request: RequestSubmitted,
        *,
        officer_id: str,
        denials: Mapping[str, str],
    ) -> None:
        """An officer decides a pending case they claimed (``_claim``). The rules are applied again: the law may
        have changed meanwhile."""
        assessment = await self._assess(uow, request)
        await self._conclude(uow, case, request, assessment, decided_by=officer_id, denials=denials)

    async def _conclude(
        self,
        uow: UnitOfWork,
        case: Case | _NewCase,
        request: RequestSubmitted,
        assessment: Assessment,
        *,
        decided_by: str,
        denials: Mapping[str, str] | None = None,
    ) -> None:
        with _about_content(request):
            decisions = decide(request, assessment, officer_denials=denials)
            concluded = conclusion(request, assessment, decisions)
        case.state = transition(CaseState(case.state), concluded.state)
        case.decided_by = decided_by
        case.decided_at = self.clock.now()
        case.post = case.post or self.posts().default  # a case opened before posts: the default post's
        case.decisions = [decision.model_dump(mode="json") for decision in concluded.decisions] + [
            {"decision": CaseState.NOT_REQUIRED.value, **waived.model_dump(mode="json")}
            for waived in concluded.not_required
        ]
        # The people a waiver covers, then the visa decision on the others (each event only when it has people).
        if concluded.not_required:
            await uow.emit(
                AuthorizationNotRequired(
                    request_id=request.request_id,
                    case_id=case.authorization_id,
                    people=concluded.not_required,
                    decided_by=decided_by,
                    decided_at=case.decided_at,
                    post=case.post,
                )
            )
        if (event_class := concluded.visa_event) is not None:
            await uow.emit(
                event_class(
                    request_id=request.request_id,
                    authorization_id=case.authorization_id,
                    immigration_status=request.immigration_status,
                    decisions=concluded.decisions,
                    decided_by=decided_by,
                    decided_at=case.decided_at,
                    # The issuing post: the grant is routed to its issuance alone (README, "Consular posts").
                    post=case.post,
                )
            )
        log.info("request %s %s by %s", request.request_id, case.state.lower(), decided_by)
