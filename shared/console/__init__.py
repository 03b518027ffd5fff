"""The consoles in the browser: server-rendered pages each service serves under ``/console/`` for the people who
use it (sponsors at intake, MRE's officers at authorization, consular staff at issuance), in one visual style.

What every console shares lives here:

- **Sign-in** with the API key the person already holds (``visa sponsors|officers|clerks add``), posted once in a
  form and exchanged for a **session cookie**: signed with ``itsdangerous`` (``VISA_CONSOLE_SECRET``, or a
  development secret made in ``var/``), HttpOnly, SameSite=Lax, Secure when the page is served over HTTPS
  (uvicorn honours ``X-Forwarded-Proto`` from the proxies ``FORWARDED_ALLOW_IPS`` names). The cookie holds the
  account's id, a fragment of its key's hash (a replaced key ends the session) and the session's CSRF token,
  never the key; a key never appears in a URL or a page. Each service has a cookie of its own
  (``visa_<service>_session``): cookies do not tell ports apart.
- **CSRF**: a synchronizer token per session, in a hidden field of every form and checked on every POST
  (``Console.posted``), with the ``Origin`` header when the browser sends one; a POST without it is answered 403.
- **Language**: Spanish or English, chosen with the switch on every page (a cookie, ``visa_language``, shared by
  the three consoles), otherwise negotiated from ``Accept-Language`` (``shared.i18n.negotiate``). The words are
  the message catalogs' (``shared/locale``), the API's where it has them: templates call ``_("msgid", **fields)``
  and ``ngettext(singular, plural, n, **fields)``, which ``make messages`` extracts (``babel.cfg``).
- One base template (``templates/base.html``), form macros (``templates/forms.html``) and one stylesheet.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData

from shared.accounts import KeyHolder, holder_of
from shared.i18n import LANGUAGES, N_, negotiate, translate, translate_plural
from shared.settings import VAR_DIR, CommonSettings

from . import labels
from .forms import field_id

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
LANGUAGE_COOKIE = "visa_language"
SESSION_SECONDS = 8 * 3600  # a working day: then the key is asked for again
LANGUAGE_NAMES = {"es": "Español", "en": "English"}

SIGN_IN_REFUSED = N_("This key is not known here. Check it and try again.")
FORM_EXPIRED = N_("This form was not sent from this console, or your session has expired. Open the page again.")
NOT_FOUND = N_("Not found, or not yours to see.")


def development_secret(directory: Path = VAR_DIR) -> str:
    """The consoles' session secret for development: made once in ``var/console-secret`` (mode 0600) and read
    from there afterwards; the three services, started at once, agree on the first one written."""
    path = directory / "console-secret"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".console-secret-")
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48))
            os.link(temporary, path)  # atomic, and refused when another process was first
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def console_secret(settings: CommonSettings) -> str:
    secret = settings.visa_console_secret
    return secret.get_secret_value() if secret is not None else development_secret()


class SignInRequired(Exception):
    """The page needs a signed-in account: the visitor is sent to the sign-in page."""

    def __init__(self, path: str) -> None:
        self.path = path


class FormRefused(Exception):
    """A POST without this session's CSRF token (or from another origin): 403."""

    def __init__(self, visitor: Visitor) -> None:
        self.visitor = visitor


@dataclass
class Visitor:
    """Who is looking at a page: their language, their session (its CSRF token) and, once signed in, their
    account."""

    language: str
    session: dict[str, Any]
    account: Any | None = None
    changed: bool = False  # the session cookie must be (re)written with the answer
    fresh: bool = False  # no genuine session came with the request
    flash: list[str] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        return self.session["csrf"]


def safe_next(target: str | None) -> str:
    """A path within the consoles to go back to, never another site."""
    if not target or not target.startswith(f"{PREFIX}/") or target.startswith("//") or "\\" in target:
        return f"{PREFIX}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return f"{PREFIX}/"
    return target


class Console:
    """One service's console: its account type, its templates, its session cookie."""

    def __init__(
        self,
        *,
        service: str,
        account: type[KeyHolder],
        templates: Path,
        secret: str,
        title: str,
        role: str,
    ) -> None:
        self.service = service
        self.account = account
        self.title = title  # a msgid: the console's name, in the header of every page
        self.role = role  # a msgid: who signs in here ("sponsor", "officer", "consular staff")
        self.cookie = f"visa_{service}_session"
        self.signer = URLSafeTimedSerializer(secret, salt=f"visa-console:{service}")
        self.environment = Environment(
            loader=ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(HERE / "templates")]),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.globals["labels"] = labels
        self.environment.globals["field_id"] = field_id
        self.environment.filters["urlquote"] = lambda value: quote(str(value), safe="")
        self.stylesheet = (HERE / "console.css").read_text()
        self.router = self._shared_routes()

    # --- visitors and sessions ---------------------------------------------------------------------------

    def language_of(self, request: Request) -> str:
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen in LANGUAGES:
            return chosen
        return negotiate(request.headers.get("accept-language"))

    async def visitor(self, request: Request) -> Visitor:
        """The visitor of ``request``: their session if its cookie is genuine and fresh, a new one otherwise."""
        if (cached := request.scope.get("visa.console.visitor")) is not None:
            return cached
        session: dict[str, Any] | None = None
        if raw := request.cookies.get(self.cookie):
            try:
                loaded = self.signer.loads(raw, max_age=SESSION_SECONDS)
            except BadSignature:
                loaded = None
            if isinstance(loaded, dict) and isinstance(loaded.get("csrf"), str):
                session = loaded
        visitor = Visitor(language=self.language_of(request), session=session or {"csrf": secrets.token_urlsafe(32)})
        visitor.changed = visitor.fresh = session is None
        if account_id := visitor.session.get("account"):
            async with request.app.state.db.sessions() as db:
                account = await db.get(self.account, account_id)
            # A key replaced since the sign-in ends the session.
            if account is not None and hmac.compare_digest(account.key_hash[:16], visitor.session.get("key", "")):
                visitor.account = account
            else:
                visitor.session = {"csrf": secrets.token_urlsafe(32)}
                visitor.changed = visitor.fresh = True
        request.scope["visa.console.visitor"] = visitor
        return visitor

    async def signed_in(self, request: Request) -> Visitor:
        """The visitor, who must be signed in (``SignInRequired`` otherwise)."""
        visitor = await self.visitor(request)
        if visitor.account is None:
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return visitor

    async def posted(self, request: Request, *, signed_in: bool = True) -> tuple[Visitor, FormData]:
        """A POSTed form and its visitor, once its CSRF token is this session's (``FormRefused`` otherwise)."""
        visitor = await self.visitor(request)
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
            raise FormRefused(visitor)
        form = await request.form()
        token = form.get("csrf")
        if visitor.fresh or not isinstance(token, str) or not hmac.compare_digest(token, visitor.csrf):
            raise FormRefused(visitor)
        if signed_in and visitor.account is None:
            raise SignInRequired(f"{PREFIX}/")
        return visitor, form

    def _write_session(self, request: Request, response: Response, visitor: Visitor) -> None:
        if visitor.changed:
            response.set_cookie(
                self.cookie,
                self.signer.dumps(visitor.session),
                max_age=SESSION_SECONDS,
                path="/",
                httponly=True,
                secure=request.url.scheme == "https",
                samesite="lax",
            )
            visitor.changed = False

    # --- answers -----------------------------------------------------------------------------------------

    def render(
        self, request: Request, visitor: Visitor, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        language = visitor.language
        if shown := visitor.session.pop("flash", None):
            visitor.flash.extend(shown)
            visitor.changed = True
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")

        def _(msgid: str, /, **params: Any) -> str:
            return translate(msgid, language, **params) if msgid else ""

        def ngettext(singular: str, plural: str, count: int, /, **params: Any) -> str:
            return translate_plural(singular, plural, count, language, **params)

        page = self.environment.get_template(template).render(
            _=_,
            ngettext=ngettext,
            lang=language,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            here=here,
            csrf=visitor.csrf,
            account=visitor.account,
            console=self,
            flash=visitor.flash,
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        self.finish(request, response, visitor)
        return response

    def redirect(self, request: Request, visitor: Visitor, target: str) -> RedirectResponse:
        response = RedirectResponse(safe_next(target), status_code=303)
        self.finish(request, response, visitor)
        return response

    def finish(self, request: Request, response: Response, visitor: Visitor) -> None:
        """The session cookie when it changed, and the headers every console answer carries."""
        self._write_session(request, response, visitor)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"

    def flash(self, visitor: Visitor, notice: str) -> None:
        """A notice shown once, on the next page the visitor sees (after a redirect)."""
        visitor.session["flash"] = [*visitor.session.get("flash", ()), notice]
        visitor.changed = True

    def not_found(self, request: Request, visitor: Visitor) -> HTMLResponse:
        return self.render(request, visitor, "message.html", status_code=404, message=NOT_FOUND)

    # --- the routes every console has ---------------------------------------------------------------------

    def _shared_routes(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, include_in_schema=False)

        @router.get("/console.css")
        async def stylesheet() -> PlainTextResponse:
            return PlainTextResponse(
                self.stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
            )

        @router.get("/sign-in", response_class=HTMLResponse)
        async def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
            visitor = await self.visitor(request)
            if visitor.account is not None:
                return self.redirect(request, visitor, safe_next(next))
            return self.render(request, visitor, "sign_in.html", next=safe_next(next), refused=None)

        @router.post("/sign-in", response_class=HTMLResponse)
        async def sign_in(request: Request) -> Response:
            visitor, form = await self.posted(request, signed_in=False)
            key, target = str(form.get("key") or "").strip(), safe_next(str(form.get("next") or ""))
            async with request.app.state.db.sessions() as db:
                account = await holder_of(db, self.account, key) if key else None
            if account is None:
                return self.render(
                    request, visitor, "sign_in.html", status_code=401, next=target, refused=SIGN_IN_REFUSED
                )
            # A new session (and a new CSRF token) on sign-in: nothing planted before it survives.
            visitor.session = {"csrf": secrets.token_urlsafe(32), "account": account.id, "key": account.key_hash[:16]}
            visitor.account, visitor.changed = account, True
            return self.redirect(request, visitor, target)

        @router.post("/sign-out")
        async def sign_out(request: Request) -> Response:
            visitor, _ = await self.posted(request, signed_in=False)
            visitor.session, visitor.account, visitor.changed = {"csrf": secrets.token_urlsafe(32)}, None, True
            return self.redirect(request, visitor, f"{PREFIX}/sign-in")

        @router.get("/language")
        async def switch_language(request: Request, to: str = "", next: str | None = None) -> Response:
            visitor = await self.visitor(request)
            response = self.redirect(request, visitor, safe_next(next))
            if to in LANGUAGES:
                response.set_cookie(
                    LANGUAGE_COOKIE,
                    to,
                    max_age=365 * 24 * 3600,
                    path="/",
                    httponly=True,
                    secure=request.url.scheme == "https",
                    samesite="lax",
                )
            return response

        return router

    def install(self, app: FastAPI, pages: APIRouter) -> None:
        """Mount the console's shared routes and ``pages`` (the service's own) on ``app``."""
        app.include_router(self.router)
        app.include_router(pages)

        async def sign_in_required(request: Request, error: Exception) -> Response:
            assert isinstance(error, SignInRequired)
            visitor = await self.visitor(request)
            return self.redirect(request, visitor, f"{PREFIX}/sign-in?next={quote(safe_next(error.path), safe='')}")

        async def form_refused(request: Request, error: Exception) -> Response:
            assert isinstance(error, FormRefused)
            return self.render(request, error.visitor, "message.html", status_code=403, message=FORM_EXPIRED)

        app.add_exception_handler(SignInRequired, sign_in_required)
        app.add_exception_handler(FormRefused, form_refused)


def values_of(form: Mapping[str, Any] | FormData) -> dict[str, str]:
    """A form's single values, as typed (for showing the form again)."""
    return {name: value for name, value in form.items() if isinstance(value, str) and name != "csrf"}
