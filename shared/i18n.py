"""Spanish and English: every sentence the services answer, from gettext catalogs managed with Babel.

The catalogs are ``shared/locale/<language>/LC_MESSAGES/messages.po``; their msgids are the English sentences,
written in the code as ``str.format`` templates with named fields (``"no request {request_id}"``). Each
catalog is read with Babel and compiled in memory once per process: no compiled ``.mo`` file, no build
step. ``make messages`` extracts the msgids from the code (``babel.cfg``, the keywords in ``KEYWORDS``) into
``shared/locale/messages.pot`` and updates every catalog; tests/unit/test_i18n.py fails while a catalog is
behind the code, a Spanish entry is missing or fuzzy, or a translation's fields differ from its msgid's.

The language of an HTTP answer is negotiated from ``Accept-Language`` (``negotiate``): Spanish when the
header is missing, unreadable or names only languages the services do not speak. ``shared.http.language``
makes it current for the whole request (a context variable) and names it in ``Content-Language``.

The API:

- ``N_(msgid)`` marks a msgid for extraction and returns it unchanged (module-level constants);
  ``N_plural(singular, plural)`` marks a counted one.
- ``gettext(msgid, **params)`` (``ngettext(singular, plural, n, **params)``) translates into the current
  language and fills the fields.
- ``translate(msgid, language, **params)`` (``translate_plural``) renders in an explicit language.
- ``Message(msgid, **params)`` keeps a sentence to render later: it *is* the English text (a ``str``, for
  logs and for code that compares strings) and renders in any language with ``.render(language)``;
  ``localized(value)`` renders a ``Message`` (or a ``Refusal``) in the current language and leaves other
  values as they are. A parameter that is itself a ``Message`` is rendered in the same language.
- ``Refusal(msgid, **params)``, an exception whose ``str()`` is the English sentence and whose ``.message``
  renders in any language; ``Invalid`` is the ``ValueError`` kind, for pydantic validators.

Something stored to be read later (a rule's finding, a case's reason) is stored as its code and parameters,
never as a sentence, and rendered when it is read, in the reader's language::

    REASONS = {"passport-expired": N_("the passport expires on {expires_on}, before the stay ends")}

    stored = {"code": "passport-expired", "params": {"expires_on": "2030-01-31"}}  # what the event carries
    translate(REASONS[stored["code"]], language, **stored["params"])  # at read time
    gettext(REASONS[stored["code"]], **stored["params"])  # the same, in the request's language

Adding a language: add it to ``LANGUAGES``, run ``pybabel init -D messages -i shared/locale/messages.pot
-d shared/locale -l <language>``, translate the new catalog.
"""

from __future__ import annotations

import contextvars
import io
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
DEFAULT_LANGUAGE = "es"
LANGUAGES = ("es", "en")
# The functions whose arguments are msgids, as ``pybabel extract -k`` takes them (the Makefile's I18N_KEYWORDS):
# the first argument, or the two numbered (a singular and its plural).
KEYWORDS = (
    "N_",
    "N_plural:1,2",
    "gettext",
    "ngettext:1,2",
    "translate",
    "translate_plural:1,2",
    "Message",
    "Refusal",
    "Invalid",
)

_language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=DEFAULT_LANGUAGE)


def N_(msgid: str) -> str:
    """Marks ``msgid`` for extraction; returns it unchanged (translate it where it is shown)."""
    return msgid


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Marks a singular msgid and its plural for extraction (``translate_plural`` renders them)."""
    return singular, plural


# --- negotiation -------------------------------------------------------------------------------------------

_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QUALITY = re.compile(r"^[qQ]=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def _preferences(header: str) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, most preferred first, without the refused
    (``q=0``) or unreadable ones (RFC 9110, 12.5.4)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, *parameters = (part.strip() for part in item.split(";"))
        if not _RANGE.match(tag):
            continue
        quality = 1.0
        for parameter in parameters:
            if found := _QUALITY.match(parameter):
                quality = float(found.group(1))
            elif parameter[:1] in ("q", "Q") or not parameter:
                quality = -1.0  # an unreadable weight: the range is ignored
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(header: str | None) -> str:
    """The language to answer in, among ``LANGUAGES``, for an ``Accept-Language`` header (None: none sent)."""
    for tag in _preferences(header or ""):
        if tag == "*":
            return DEFAULT_LANGUAGE
        if found := negotiate_locale([tag.lower()], LANGUAGES, sep="-"):
            return found.lower()
    return DEFAULT_LANGUAGE


def current_language() -> str:
    return _language.get()


@contextmanager
def using_language(language: str) -> Iterator[str]:
    """Makes ``language`` current (a context variable) while the block runs."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield _language.get()
    finally:
        _language.reset(token)


# --- catalogs ----------------------------------------------------------------------------------------------


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> Translations:
    """``language``'s catalog, read and compiled in memory once per process (fuzzy entries left out)."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _fill(template: str, fallback: str, language: str, params: dict[str, Any]) -> str:
    values = {name: value.render(language) if isinstance(value, Message) else value for name, value in params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):  # a translation whose fields are wrong: the English rather
        return fallback.format(**values)


def translate(msgid: str, language: str, /, **params: Any) -> str:
    """``msgid`` in ``language`` (the default language if not spoken), its fields filled from ``params``."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return _fill(translations(language).gettext(msgid), msgid, language, params)


def translate_plural(singular: str, plural: str, n: int, language: str, /, **params: Any) -> str:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = translations(language).ngettext(singular, plural, n)
    return _fill(template, singular if n == 1 else plural, language, params)


def gettext(msgid: str, /, **params: Any) -> str:
    """``msgid`` in the current language, its fields filled from ``params``."""
    return translate(msgid, current_language(), **params)


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The singular or plural form for ``n``, in the current language, its fields filled from ``params``."""
    return translate_plural(singular, plural, n, current_language(), **params)


# --- sentences rendered later ------------------------------------------------------------------------------


class Message(str):
    """A sentence to render later: the English text itself (a ``str``), with its msgid and parameters."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Message:
        english = _fill(msgid, msgid, "en", params) if params else msgid
        self = super().__new__(cls, english)
        self.msgid = msgid
        self.params = params
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:  # copy and pickle keep msgid and params
        return (self.msgid,), self.params

    def render(self, language: str | None = None) -> str:
        """This sentence in ``language`` (default: the current one)."""
        return translate(self.msgid, language or current_language(), **self.params)

    @classmethod
    def recognize(cls, text: str, *msgids: str) -> Message | str:
        """``text`` as the first of ``msgids`` whose English rendering it is (its fields read back as
        strings), or ``text`` itself: for exceptions of code that words its messages in English only."""
        for msgid in msgids:
            if (found := _pattern(msgid).fullmatch(text)) is not None:
                return cls(msgid, **found.groupdict())
        return text


@cache
def _pattern(msgid: str) -> re.Pattern[str]:
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(msgid):
        parts.append(re.escape(literal))
        if field is not None:
            if spec or conversion or not field.isidentifier():
                raise ValueError(f"{msgid!r}: only plain named fields can be recognized")
            parts.append(f"(?P<{field}>.+?)")
    return re.compile("".join(parts), re.DOTALL)


def placeholders(template: str) -> set[str]:
    """The named fields of a ``str.format`` template (``{name}``, ``{name!r}``, ``{name:04X}``)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


class Refusal(Exception):
    """A refusal worded by a catalog message, declared by a use case::

        class RequestNotFound(Refusal, LookupError):
            def __init__(self, request_id: str) -> None:
                super().__init__(N_("no request {request_id}"), request_id=request_id)

    ``str(error)`` is the English sentence (logs read it), as a ``Message``: a route's
    ``HTTPException(404, detail=str(error))`` is answered in the request's language by the services' handler
    (``shared.http.errors``). ``error.message.render(language)`` renders it in any language."""

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.message = Message(msgid, **params)
        super().__init__(self.message)

    def __str__(self) -> Message:
        return self.message


class Invalid(Refusal, ValueError):
    """A refused value: raised by a pydantic validator, it becomes a 422 entry in the caller's language."""


def localized(value: Any, language: str | None = None) -> Any:
    """A ``Message`` or a ``Refusal`` rendered in ``language`` (default: the current one); anything else as is."""
    if isinstance(value, Refusal):
        value = value.message
    if isinstance(value, Message):
        return value.render(language)
    return value


def message_of(error: BaseException) -> Message | None:
    """The catalog message an exception carries: a ``Refusal``'s, or a ``Message`` given as its argument."""
    if isinstance(error, Refusal):
        return error.message
    if error.args and isinstance(error.args[0], Message):
        return error.args[0]
    return None
