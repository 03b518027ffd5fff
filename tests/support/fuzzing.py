"""Schemathesis's targets: the three services' real apps, seeded, on SQLite or on fresh PostgreSQL databases.

The apps are built as the component harness builds them (``tests/support/components.py``): no lifespan
(it would connect to RabbitMQ), tables created directly, FastStream's ``TestRabbitBroker`` entered, and
the outbox moved between services by ``System.settle``. A seeded history (requests pending, denied,
partly denied, issued, revoked; another sponsor's request; a key for each kind of caller) gives the
fuzzed routes real rows to answer with.

Schemathesis's in-process ASGI client sends every request on one event loop of its own, in a thread.
The apps' database pools and test brokers must belong to that loop, so every coroutine here (building,
seeding, closing) runs on it too, through its portal.

Each operation's schema is loaded when its test module is collected (schemathesis's pytest integration
makes one test per operation from a schema it has then), from ``/openapi.json`` of an app built for
that purpose; the fixture checks that the app under test serves the same document. The key a call
bears is fixed for the run (``KEYS``: coverage cases get theirs at collection); the seeded ids mixed
into generated ones belong to the running test's system, which the schemas' hooks read from ``RUNNING``.
The fixtures that build a system for each test are in ``tests/fuzz/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import tempfile
import traceback
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from faststream.rabbit import TestRabbitBroker
from hypothesis import strategies as st
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi
from sqlalchemy import select

import services
import shared
from services.authorization.app import build as build_authorization
from services.authorization.models import Officer
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.models import Auditor as IntakeAuditor
from services.intake.models import SponsorRecord
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.models import Auditor as IssuanceAuditor
from services.issuance.models import Verifier, Visa
from services.issuance.settings import IssuanceSettings
from shared.accounts import key_hash, new_key
from tests.support.components import NAMESPACE, NO_REDIS, Service, System, bearer
from tests.support.keys import make_keys
from tests.support.requests import passport, spouse, visa_request


def _import_the_code_under_test() -> None:
    """Hypothesis now and then draws a constant from the (non-test) code it finds imported: with all of
    it imported first, what a test generates does not depend on which other tests ran before it."""
    for package in (services, shared):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


_import_the_code_under_test()
ROOT = str(Path(__file__).resolve().parents[2])  # the repository
SERVICES = ("intake", "authorization", "issuance")
DATABASES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.integration))  # the shared PostgreSQL
BASE_URL = f"http://{asgi.HOST}"

# Bounded and deterministic: a fixed seed (each operation derives its own from it), Hypothesis's
# derandomized mode, and no example database, so a run neither depends on nor leaves behind earlier ones.
MAX_EXAMPLES = 40
# NUL, which PostgreSQL cannot store in text, goes now and then into the ids and free text a request
# carries: left to chance, a bounded run would rarely draw it. Bodies take it from a schemathesis
# dictionary; path and query parameters, which schemathesis's dictionaries do not reach, from the hooks
# of ``load_schema``. (Lone surrogates cannot be offered so: schemathesis checks dictionary values with
# jsonschema-rs, which takes UTF-8 only, and sends path and query parameters as UTF-8.)
NUL_TEXT = ("\x00", "A\x00B")
NUL_BODY_FIELDS = (
    "body.function",
    "body.note_verbale.number",
    "body.principal.surnames",
    "body.principal.given_names",
    "body.principal.nationality",
    "body.family[*].surnames",
    "body.reason",
)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261127,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # Each operation on its own; chains of calls (the stateful phase) are not asked for.
        "phases": {"stateful": {"enabled": False}},
        "dictionaries": {"nul": {"values": list(NUL_TEXT)}},
        # A field an operation does not have is ignored there.
        "parameters": {field: {"dictionary": "nul", "probability": 0.2} for field in NUL_BODY_FIELDS},
    }
)


# The callers' keys, one per kind of caller for the whole run: coverage cases are generated, and their
# key set, when the tests are collected, before any system exists.
KEYS = {
    "sponsor": new_key("sk"),
    "other-sponsor": new_key("sk"),
    "officer": new_key("ok"),
    "verifier": new_key("vk"),
    "intake-auditor": new_key("ak"),
    "issuance-auditor": new_key("ak"),
}
OWN_CALLER = {"intake": "sponsor", "authorization": "officer", "issuance": "verifier"}


def key_for(service: str, path: str) -> str | None:
    """The bearer key a route takes: an auditor's under /v1/audit, the service's own callers' (sponsor,
    officer, verifier) elsewhere under /v1; none for /healthz and /readyz."""
    if path.startswith("/v1/audit/"):
        return KEYS[f"{service}-auditor"]
    if path.startswith("/v1/"):
        return KEYS[OWN_CALLER[service]]
    return None


def portal() -> BlockingPortal:
    """The portal to the event loop schemathesis's in-process ASGI client runs every app on.

    ``schemathesis.python.asgi`` keeps a single such loop for the whole process; it has no public name.
    """
    return asgi._get_portal()


# One key makes hundreds of calls a minute here: at the deployed rate limits nearly every one would be a 429,
# and the routes behind them would go unfuzzed. (The limits themselves are tested in tests/component.)
UNTHROTTLED = "1000000/minute"


def _settings(service: str, url: str, **extra: Any):
    common = {
        "redis_url": NO_REDIS,
        "visa_namespace": NAMESPACE,
        "visa_rate_limit_per_key": UNTHROTTLED,
        "visa_rate_limit_per_address": UNTHROTTLED,
        **extra,
    }
    if service == "intake":
        return IntakeSettings(intake_database_url=url, **common)
    if service == "authorization":
        # Review: cases wait for an officer, so the officer routes meet pending cases as well as decided ones.
        return AuthorizationSettings(authorization_database_url=url, authorization_policy="review", **common)
    return IssuanceSettings(issuance_database_url=url, issuance_rate_limit_per_verifier=UNTHROTTLED, **common)


BUILD = {"intake": build_intake, "authorization": build_authorization, "issuance": build_issuance}


async def _close(app: FastAPI) -> None:
    """What the lifespan would close: the treaty cache (intake's, authorization's), the database pool."""
    directorate = getattr(app.state, "directorate", None)
    treaties = getattr(app.state, "treaties", None) or getattr(directorate, "treaties", None)
    if treaties is not None:
        await treaties.aclose()
    await app.state.db.dispose()


def openapi(service: str) -> dict:
    """``/openapi.json`` of ``service``'s app, built with keys of its own (only to be asked for it)."""
    with tempfile.TemporaryDirectory() as scratch:
        keys = make_keys(Path(scratch))
        settings = _settings(
            service,
            f"sqlite+aiosqlite:///{scratch}/{service}.db",
            visa_keyring=keys.ring_path,
            visa_signing_keys=keys.private_dir,
        )
        app = BUILD[service](settings)
        try:
            response = asgi.get_client(app).get("/openapi.json")  # not entered: no lifespan
        finally:
            portal().call(_close, app)
    assert response.status_code == 200, response.text
    LOADED[service] = response.json()
    return LOADED[service]


LOADED: dict[str, dict] = {}  # service -> the document its schema was loaded from


# ---------------------------------------------------------------------------------------------------------
# The running test's system, which the schemas' hooks read


@dataclass(frozen=True)
class Seeded:
    """What the seeded history holds."""

    request_ids: tuple[str, ...]
    visa_numbers: tuple[str, ...]


@dataclass
class Fuzzed:
    """The three services under test, seeded: the client schemathesis calls each through, what they hold,
    and what the running test found."""

    clients: dict[str, asgi.ASGIClient]  # never entered: entering one would run its app's lifespan
    seeded: Seeded
    findings: Findings

    def known(self, service: str) -> dict[str, tuple[str, ...]]:
        """Parameter name -> values that name seeded rows of ``service`` (or, for a country, real ones)."""
        seeded = self.seeded
        if service == "issuance":
            return {"number": seeded.visa_numbers, "after": seeded.visa_numbers}
        return {"request_id": seeded.request_ids, "after": seeded.request_ids, "nationality": COUNTRIES}


RUNNING: list[Fuzzed] = []  # the system of the test that runs now (at most one)

# The path and query parameters that name something: an id, a visa number, a country.
NAMING = {"request_id", "number", "after", "nationality"}


def _choices(service: str, values: dict | None) -> dict[str, tuple[str, ...]]:
    """For each parameter of ``values`` that names something: values that name seeded rows of ``service``
    in the running test's system (none outside a test), and text with NUL."""
    known = RUNNING[-1].known(service) if RUNNING else {}
    return {name: (*known.get(name, ()), *NUL_TEXT) for name in values or {} if name in NAMING}


COUNTRIES = ("USA", "ALB", "chl")  # real countries: with a waiver treaty (ALB), without, and in lower case


# Free text of a request, which a plausible request may carry NUL in.
FREE_TEXT = (("function",), ("note_verbale", "number"), ("principal", "surnames"), ("principal", "given_names"))


def _with_text(body: dict, path: tuple[str, ...], text: str) -> dict:
    *parents, name = path
    inner = body
    for parent in parents:
        inner = inner[parent]
    inner[name] += text
    return body


# Random requests are almost never plausible (dates in the right order and not in the past, real countries,
# passports that outlast the stay): a submission that intake accepts, as is or with NUL in its free text.
PLAUSIBLE_REQUESTS = st.one_of(
    st.builds(visa_request),
    st.builds(_with_text, st.builds(visa_request), st.sampled_from(FREE_TEXT), st.sampled_from(NUL_TEXT)),
)


def _mixing(values: dict | None, choices: dict[str, tuple[str, ...]]) -> st.SearchStrategy:
    """``values`` as generated, or with its parameters that name something set to one of their ``choices``."""
    if not choices:
        return st.just(values)
    chosen = st.fixed_dictionaries({name: st.sampled_from(options) for name, options in choices.items()})
    return st.one_of(st.just(values), chosen.map(lambda replacement: {**values, **replacement}))


def load_schema(service: str) -> schemathesis.BaseSchema:
    """Every operation of ``service``'s /openapi.json; each call bears the key its route takes. In half of
    the calls the path and query parameters that name something (random ids almost never name a row) are
    replaced by a seeded row's or by text with NUL, and half the submissions are plausible requests."""
    schema = schemathesis.openapi.from_dict(openapi(service), config=CONFIG)

    # Not cached (refresh_interval=None): the key depends on the route.
    @schema.auth(refresh_interval=None)
    class BearerKey:
        def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str | None:
            return key_for(service, case.path)

        def set(self, case: schemathesis.Case, key: str, context: schemathesis.AuthContext) -> None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {key}"

    @schema.hook
    def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict) -> st.SearchStrategy:
        return _mixing(path_parameters, _choices(service, path_parameters))

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy:
        operation = context.operation
        if (operation.method.upper(), operation.path) == ("POST", "/v1/requests"):
            return st.one_of(st.just(body), PLAUSIBLE_REQUESTS)
        return st.just(body)

    @schema.hook
    def flatmap_query(context: schemathesis.HookContext, query: dict) -> st.SearchStrategy:
        return _mixing(query, _choices(service, query))

    return schema


# ---------------------------------------------------------------------------------------------------------
# Building and seeding (coroutines run on schemathesis's loop)


async def _service(stack: AsyncExitStack, app: FastAPI) -> Service:
    stack.push_async_callback(_close, app)
    await app.state.db.create_all()
    await stack.enter_async_context(TestRabbitBroker(app.state.bus.broker))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return Service(app, await stack.enter_async_context(client))


async def _account(service: Service, model, caller: str, **fields: Any) -> None:
    """An account row as the ``visa … add`` commands write it, bearing ``KEYS[caller]``."""
    async with service.app.state.db.transaction() as session:
        session.add(
            model(id=str(uuid.uuid4()), key_hash=key_hash(KEYS[caller]), created_at=dt.datetime.now(dt.UTC), **fields)
        )


async def _decide(system: System, officer: dict[str, str], request_id: str, act: str, body: dict | None = None):
    response = await system.authorization.http.post(f"/v1/cases/{request_id}/{act}", json=body, headers=officer)
    assert response.status_code == 200, response.text
    await system.settle()


async def _seed(system: System) -> Seeded:
    """A small history through all three services, as sponsors, an officer and the events leave it."""
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    await _account(intake, SponsorRecord, "sponsor", name="Embassy of Sweden", kind="government", country="SWE")
    await _account(intake, SponsorRecord, "other-sponsor", name="Embassy of Chile", kind="government", country="CHL")
    await _account(intake, IntakeAuditor, "intake-auditor", name="Contraloría")
    await _account(authorization, Officer, "officer", name="Rosa Quispe")
    await _account(issuance, Verifier, "verifier", name="Jorge Chavez airport")
    await _account(issuance, IssuanceAuditor, "issuance-auditor", name="Contraloría")
    sponsor, officer = bearer(KEYS["sponsor"]), bearer(KEYS["officer"])
    issued = await system.submit(sponsor)
    partly = await system.submit(sponsor)
    denied = await system.submit(sponsor)
    revoked = await system.submit(sponsor)
    pending = await system.submit(sponsor)
    # The rules deny the spouse (an official passport for diplomatic residence); the principal waits.
    ruled = await system.submit(sponsor, visa_request(family=[spouse(passport=passport("O7654321", type="OFFICIAL"))]))
    theirs = await system.submit(bearer(KEYS["other-sponsor"]))
    await system.settle()

    applicants = (await system.view(sponsor, partly))["applicants"]
    spouse_id = next(person["person_id"] for person in applicants if person["role"] == "FAMILY")
    await _decide(system, officer, issued, "grant")
    await _decide(system, officer, partly, "grant", {"deny": {spouse_id: "appointment letter missing"}})
    await _decide(system, officer, denied, "deny", {"reason": "note verbale unsigned"})
    await _decide(system, officer, revoked, "grant")
    await _decide(system, officer, revoked, "revoke", {"reason": "end of mission"})
    assert (await system.view(sponsor, issued))["status"] == "ISSUED"

    async with issuance.app.state.db.sessions() as session:
        numbers = tuple(await session.scalars(select(Visa.number).where(Visa.number.is_not(None)).order_by(Visa.seq)))
    assert len(numbers) == 5, numbers  # issued (2), partly (the principal), revoked (2, cancelled)
    return Seeded(
        request_ids=(issued, partly, denied, revoked, pending, ruled, theirs),
        visa_numbers=(*numbers, numbers[0].lower()),
    )


async def start_fuzzed(stack: AsyncExitStack, urls: dict[str, str]) -> Fuzzed:
    """The three services on the databases ``urls`` (by service name), seeded; ``stack`` closes them."""
    apps = {service: BUILD[service](_settings(service, urls[service])) for service in SERVICES}
    system = System(*[await _service(stack, apps[service]) for service in SERVICES])
    seeded = await _seed(system)
    return Fuzzed({service: asgi.get_client(app) for service, app in apps.items()}, seeded, Findings())


# ---------------------------------------------------------------------------------------------------------
# What a test found


@dataclass
class Finding:
    title: str
    report: str  # the first case's: what failed, the response, and a curl command that reproduces the request
    cases: int = 1


class Findings:
    """Every distinct failure of one test, each with the report of the first case that showed it.

    A test does not stop at its first failure: the report lists all that its bounded run meets (the
    coverage phase's cases would otherwise hide what the fuzzing phase finds), and no time goes into
    shrinking. Failures are told apart as schemathesis tells them apart (its failure's class and key,
    say the status code or the schema path violated); an exception escaping the app, by where it was raised.
    """

    def __init__(self) -> None:
        self.found: dict[object, Finding] = {}

    def __bool__(self) -> bool:
        return bool(self.found)

    def _add(self, key: object, title: str, report: str) -> None:
        if key in self.found:
            self.found[key].cases += 1
        else:
            self.found[key] = Finding(title, report)

    def failed(self, group: FailureGroup) -> None:
        for failure in group.exceptions:
            detail = failure.message.strip().splitlines()[0][:120] if failure.message.strip() else ""
            self._add(failure, f"{failure.code} {failure.title}: {detail}".rstrip(": "), group.message)

    def raised(self, error: Exception) -> None:
        """An exception out of the app (Starlette's server error middleware answers 500, then raises it again)."""
        frames = traceback.extract_tb(error.__traceback__)
        if not any("/starlette/" in frame.filename for frame in frames):
            raise error  # not the app's: the test itself is broken
        ours = [frame for frame in frames if ROOT in frame.filename and "/tests/" not in frame.filename]
        origin = (ours or frames)[-1]
        path = Path(origin.filename)
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{origin.lineno}"
        report = "".join(
            [
                "".join(traceback.format_list((ours or frames)[-6:])),
                *traceback.format_exception_only(error),  # with its notes: the curl command
            ]
        )
        self._add(
            ("raised", type(error), origin.filename, origin.lineno), f"500: {type(error).__name__} at {where}", report
        )

    def summary(self) -> str:
        lines = [f"schemathesis found {len(self.found)} distinct failure(s):"]
        for number, finding in enumerate(self.found.values(), 1):
            lines += ["", f"{number}. {finding.title} (in {finding.cases} case(s); the first:)", "", finding.report]
        return "\n".join(lines)
