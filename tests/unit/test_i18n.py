"""Spanish and English: the catalogs keep up with the code, Spanish is complete, the language is negotiated."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import re
from pathlib import Path
from typing import Annotated, Literal

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from pydantic import BaseModel, Field, StringConstraints, ValidationError, field_validator

from services.authorization.api import CASE_REFUSALS
from services.authorization.cases import AssignedToAnother, CaseState, InvalidTransition, NotPending
from services.intake.usecases import RequestNotFound
from shared.contracts import PassportType
from shared.http.errors import validation_message
from shared.i18n import (
    DEFAULT_LANGUAGE,
    KEYWORDS,
    LANGUAGES,
    LOCALE_DIR,
    Invalid,
    Message,
    catalog_path,
    gettext,
    localized,
    message_of,
    negotiate,
    placeholders,
    translate,
    using_language,
)

ROOT = Path(__file__).resolve().parents[2]


def keywords() -> dict:
    found = dict(DEFAULT_KEYWORDS)
    for keyword in KEYWORDS:
        name, _, positions = keyword.partition(":")
        found[name] = tuple(int(p) for p in positions.split(",")) if positions else None
    return found


def extracted() -> set[str | tuple[str, ...]]:
    """Every msgid of the code, as ``make messages`` extracts it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str | tuple[str, ...]] = set()
    for directory in ("shared", "services"):
        for _, _, message, _, _ in extract_from_dir(ROOT / directory, method_map, options_map, keywords()):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(path: Path, language: str | None = None):
    with path.open("rb") as po:
        return read_po(po, locale=language)


def msgids(path: Path) -> set[str | tuple[str, ...]]:
    return {message.id if isinstance(message.id, str) else tuple(message.id) for message in catalog(path) if message.id}


def test_the_makefile_extracts_with_the_keywords_of_the_module():
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(r"^I18N_KEYWORDS := (.*)$", makefile, re.MULTILINE)
    assert line is not None
    assert tuple(line.group(1).replace("-k ", "").split()) == KEYWORDS


def test_the_catalogs_are_up_to_date_with_the_code():
    in_code = extracted()
    assert "no request {request_id}" in in_code and "Field required" in in_code
    template = msgids(LOCALE_DIR / "messages.pot")
    assert template == in_code, "run `make messages`, then translate what is new"
    for language in LANGUAGES:
        assert msgids(catalog_path(language)) == in_code, f"{language}: run `make messages`"


def test_every_msgid_has_a_spanish_translation_and_none_is_fuzzy():
    missing = []
    for message in catalog(catalog_path("es"), "es"):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id)
    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_translation_has_the_fields_of_its_msgid(language):
    for message in catalog(catalog_path(language), language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(placeholders(msgid) for msgid in ids))
        for string in strings:
            if string:
                assert placeholders(string) == expected, (message.id, string)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "es"),
        ("", "es"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("EN-us", "en"),
        ("fr", "es"),
        ("es-PE", "es"),
        ("en;q=0, es", "es"),
        ("en;q=0.5, es;q=0.8", "es"),
        ("es;q=0.4, en;q=0.5", "en"),
        ("fr, en;q=0.1", "en"),
        ("*", "es"),
        ("en;q=high", "es"),
        ("garbage!!, ;;;", "es"),
        ("\u00e9n", "es"),
    ],
)
def test_the_language_is_negotiated_from_accept_language(header, language):
    assert negotiate(header) == language
    assert DEFAULT_LANGUAGE == "es"


def test_a_message_is_english_text_that_renders_in_any_language():
    message = Message("no request {request_id}", request_id="r-1")
    assert message == "no request r-1" and isinstance(message, str)
    assert message.render("es") == "no existe la solicitud r-1"
    assert message.render("en") == "no request r-1"
    assert message.render("fr") == "no existe la solicitud r-1"  # a language not spoken: the default
    for kept in (copy.deepcopy(message), pickle.loads(pickle.dumps(message))):
        assert kept.render("es") == "no existe la solicitud r-1"


def test_a_parameter_that_is_a_message_renders_in_the_same_language():
    nested = Message("{character} is not allowed in a value", character=Message("NUL character (U+0000)"))
    assert nested == "NUL character (U+0000) is not allowed in a value"
    assert nested.render("es") == "el carácter NUL (U+0000) no está permitido en un valor"


def test_gettext_follows_the_current_language():
    with using_language("en"):
        assert gettext("unknown key") == "unknown key"
    with using_language("es"):
        assert gettext("unknown key") == "clave desconocida"
    assert (
        translate("internal error", "en") == "internal error" and translate("internal error", "es") == "error interno"
    )


def test_a_refusal_is_english_for_logs_and_localized_for_answers():
    error = RequestNotFound("r-9")
    assert str(error) == "no request r-9" and f"{error}" == "no request r-9"
    assert isinstance(error, LookupError)
    assert localized(error, "es") == "no existe la solicitud r-9"
    invalid = Invalid("must be in the past")
    assert isinstance(invalid, ValueError) and message_of(invalid) == "must be in the past"


@pytest.mark.parametrize(
    "error",
    [
        InvalidTransition(CaseState.DENIED, CaseState.REVOKED),
        AssignedToAnother("0b9e6e43-36a5-4d45-9f51-70a6b0c1c7c8"),
        NotPending(CaseState.GRANTED, "taken"),
        NotPending(CaseState.DENIED, "released"),
    ],
)
def test_the_case_refusals_are_recognized_word_for_word(error):
    recognized = Message.recognize(str(error), *CASE_REFUSALS)
    assert isinstance(recognized, Message) and recognized == str(error)
    assert recognized.render("es") != str(error)


class Probe(BaseModel):
    name: Annotated[str, StringConstraints(min_length=2, max_length=3, pattern=r"^[A-Z]+$")]
    one: Annotated[str, StringConstraints(min_length=1)] = "x"
    day: dt.date
    count: Annotated[int, Field(ge=1, le=500)]
    passport: PassportType
    kind: Literal["a", "b"]
    family: list[int] = Field(default_factory=list, max_length=1)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "A", "one": "", "day": "2024-13-01", "count": 0, "passport": "X", "kind": "c", "family": [1, 2]},
        {"name": "ABCD", "day": "2024/01/01", "count": 501, "passport": 1, "kind": 1, "family": "x"},
        {"name": "ab", "day": "2024-01-01T10:00:00", "count": "many", "passport": None, "extra": 1},
    ],
)
def test_pydantic_messages_are_word_for_word_in_english_and_translated_in_spanish(data):
    with pytest.raises(ValidationError) as refused:
        Probe.model_validate(data)
    for entry in refused.value.errors():
        assert validation_message(entry, "en") == entry["msg"], entry["type"]
        spanish = validation_message(entry, "es")
        assert spanish != entry["msg"], entry["type"]


class Dated(BaseModel):
    day: dt.date

    @field_validator("day")
    @classmethod
    def _past(cls, value: dt.date) -> dt.date:
        raise Invalid("must be in the past")


def test_a_validator_message_is_translated_inside_pydantic_value_error():
    with pytest.raises(ValidationError) as refused:
        Dated(day=dt.date(2999, 1, 1))
    [entry] = refused.value.errors()
    assert validation_message(entry, "en") == "Value error, must be in the past" == entry["msg"]
    assert validation_message(entry, "es") == "Valor no válido: debe ser una fecha pasada"
