"""Why a decision went as it did, as events and records keep it: a rule code and the parameters of its message,
never a translated sentence (docs/domain/README.md); rendered in the reader's language from the message catalogs
(shared/locale/), by producers and readers alike.

``TEMPLATES`` holds one English template per message id: the rule's code, or ``code/variant`` where a rule words
several findings. A ``Finding`` names a rule, its message id and the parameters, all strings. Parameters made of
labels ("Diplomatic resident", "a spouse or a child") are rendered label by label, so that a reader sees them in
their language too; anything else (names, dates, numbers, an officer's words) as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import Field

from shared.i18n import N_, translate

from .people import Contract

TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "sponsor-not-entitled": N_(
            "{status} status is granted only at the request of {allowed}; the sponsor {sponsor} is {kind}."
        ),
        "documentation-missing/note-number": N_(
            "Official documentation is incomplete: the note verbale has no number."
        ),
        "documentation-missing/note-date": N_(
            "Official documentation is incomplete: note verbale {number} is dated {date}, after today ({today})."
        ),
        "documentation-missing/function": N_(
            "Official documentation is incomplete: the function to be performed is not stated."
        ),
        "posting-period-invalid": N_(
            "A resident status needs a posting end date after the intended arrival "
            "({arrival}); the request gives {end}."
        ),
        "posting-period-invalid/none": N_(
            "A resident status needs a posting end date after the intended arrival ({arrival}); the request gives none."
        ),
        "implausible-request": N_("The request holds implausible data: {fields}."),
        "staff-category-status": N_(
            "The principal is {category}, who may ask for {allowed}; the request asks for {status} status."
        ),
        "staff-category-status/none": N_(
            "The principal is {category}, who may ask for no status; the request asks for {status} status."
        ),
        "apci-registration-missing": N_(
            "{status} status rests on the ENIEX's registration with APCI (Peru's "
            "international-cooperation agency); the request gives none."
        ),
        "apci-registration-missing/date": N_(
            "{status} status rests on the ENIEX's registration with APCI (Peru's "
            "international-cooperation agency); registration {number} is dated {date}, after today ({today})."
        ),
        "peruvian-national": N_(
            "{who} is a Peruvian national: the Directorate's statuses are granted to foreigners "
            "only, and a Peruvian enters Peru as a national."
        ),
        "relationship-not-recognized": N_(
            "The Directorate does not count {relationship} as a member of the family nucleus: {who} is declared as one."
        ),
        "relationship-not-recognized/none": N_(
            "{who} is declared as a family member with no relationship: the "
            "Directorate counts as family only the relationships it recognizes."
        ),
        "family-condition-required": N_(
            "{relationship} counts as a member of the family nucleus only when declared "
            "with {conditions}; {who} is declared without it."
        ),
        "family-age-limit": N_(
            "{who}, born on {born}, is {age} on the intended arrival ({arrival}); {relationship} "
            "counts as a member of the family nucleus only under the age of {limit}."
        ),
        "family-age-limit/conditions": N_(
            "{who}, born on {born}, is {age} on the intended arrival ({arrival}); "
            "{relationship} declared with {conditions} counts as a member of the family nucleus only under the age "
            "of {limit}."
        ),
        "diplomatic-passport-required": N_(
            "Diplomatic resident status requires the official to hold a diplomatic passport; {who} holds {passport}."
        ),
        "diplomatic-passport-required/family": N_(
            "Diplomatic resident status requires each family member to hold a "
            "diplomatic passport; {who} holds {passport}."
        ),
        "passport-expired": N_(
            "Passport {number} of {who} expires on {expires}, not after the intended arrival on {arrival}."
        ),
        "ordinary-passport": N_(
            "{who} holds an ordinary passport; this procedure covers diplomatic, special, official "
            "and service passports and laissez-passer."
        ),
        "principal-ineligible": N_(
            "The status of {who} derives from the principal, {principal}, who is not eligible ({reasons})."
        ),
        # Not the rules' but an officer's: cases.decide words it (a principal an officer denied).
        "principal-denied": N_(
            "The status of {who} derives from the principal, {principal}, whom an officer denied: {reason}"
        ),
        "principal-not-authorized": N_(
            "{who} joins the family of the principal, {principal}, who holds no authorization in force under "
            "request {request}: a family member's status derives from the principal's."
        ),
        # An officer's own words: the reason is theirs, rendered as written.
        "officer": "{reason}",
    }
)
# What intake notes of a person's history beyond the Directorate's decision (rendered without a code).
NOTES: Mapping[str, str] = MappingProxyType(
    {
        "authorization-revoked": N_("authorization revoked: {reason}"),
        "visa-cancelled": N_("visa cancelled: {reason}"),
        "visa-superseded": N_("visa superseded by {number}"),
    }
)
# How the rules join labels in a parameter ("a foreign government or an international organization"), and how
# each language does.
JOINERS = {"en": {" or ": " or ", " and ": " and ", ", ": ", "}, "es": {" or ": " o ", " and ": " y ", ", ": ", "}}


class Finding(Contract):
    """One reason for a decision: the rule (its stable code), the message id and its parameters."""

    rule: str = Field(description="The rule's stable code, e.g. 'passport-expired'; 'officer' for an officer's reason.")
    message: str = Field(description="The message id: the rule's code, or 'code/variant'.")
    params: dict[str, str] = Field(default_factory=dict, description="The message's named parameters.")

    def render(self, language: str) -> str:
        """``"code: sentence"`` in ``language``."""
        return f"{self.rule}: {sentence(TEMPLATES.get(self.message), self.params, language)}"


def sentence(template: str | None, params: Mapping[str, str], language: str) -> str:
    """A template in ``language`` with its parameters, each label among them in that language too. A template this
    release does not know (from a newer producer) shows its parameters as they are."""
    if template is None:
        return "; ".join(f"{name}={value}" for name, value in params.items())
    if template == TEMPLATES["officer"]:
        return template.format_map(params)
    return translate(template, language, **{name: label(value, language) for name, value in params.items()})


def label(value: str, language: str) -> str:
    """A parameter in ``language``: a label the catalogs know, or labels joined by "or", "and" or commas; anything
    else as it is."""
    if (translated := translate(value, language)) != value or language == "en":
        return translated
    for joiner, joined in JOINERS.get(language, {}).items():
        parts = value.split(joiner)
        if len(parts) > 1 and all(translate(part, language) != part for part in parts):
            return joined.join(translate(part, language) for part in parts)
    return value


def render(reason: Any, language: str) -> str:
    """One reason as a record keeps it, in ``language``: a ``Finding`` (as a dict), a note of intake's
    (``{"note", "params"}``), or a sentence kept from before reasons were codes (as it is)."""
    if isinstance(reason, dict) and "rule" in reason:
        return Finding.model_validate(reason).render(language)
    if isinstance(reason, dict) and "note" in reason:
        return sentence(NOTES.get(reason["note"]), reason.get("params", {}), language)
    return str(reason)


def note(name: str, **params: str) -> dict[str, Any]:
    """A note of intake's, as its records keep it."""
    assert name in NOTES, name
    return {"note": name, "params": {key: str(value) for key, value in params.items()}}
