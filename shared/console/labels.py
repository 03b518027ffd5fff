"""The words the consoles show for codes (statuses, states, categories): msgids of the catalogs, translated where
shown (``{{ _(labels.of(code)) }}``). The API keeps answering the codes themselves."""

from __future__ import annotations

from shared.i18n import N_

LABELS: dict[str, str] = {
    # immigration statuses (the same words as the rules')
    "DIPLOMATIC_RESIDENT": N_("Diplomatic resident"),
    "CONSULAR_RESIDENT": N_("Consular resident"),
    "OFFICIAL_RESIDENT": N_("Official resident"),
    "SHORT_STAY": N_("Short stay"),
    "COOPERANT": N_("Cooperant"),
    # staff categories
    "DIPLOMATIC_AGENT": N_("Diplomatic agent"),
    "ADMINISTRATIVE_TECHNICAL_STAFF": N_("Administrative and technical staff"),
    "SERVICE_STAFF": N_("Service staff"),
    "CONSULAR_OFFICER_OR_EMPLOYEE": N_("Consular officer or employee"),
    "INTERNATIONAL_ORGANIZATION_OFFICIAL": N_("International organization official"),
    # passports
    "DIPLOMATIC": N_("Diplomatic"),
    "OFFICIAL": N_("Official"),
    "SERVICE": N_("Service"),
    "SPECIAL": N_("Special"),
    "ORDINARY": N_("Ordinary"),
    "LAISSEZ_PASSER": N_("Laissez-passer"),
    # sex
    "F": N_("Female"),
    "M": N_("Male"),
    "X": N_("Unspecified"),
    # relationships, roles, conditions
    "SPOUSE": N_("Spouse"),
    "PARTNER": N_("Partner"),
    "CHILD": N_("Child"),
    "PARENT": N_("Parent"),
    "OTHER_DEPENDANT": N_("Other dependant"),
    "PRINCIPAL": N_("Principal"),
    "FAMILY": N_("Family member"),
    "STUDIES": N_("Post-secondary studies"),
    "DISABILITY": N_("Disability"),
    "DEPENDENCY": N_("Dependency on the principal"),
    # sponsors
    "government": N_("Government"),
    "international_organization": N_("International organization"),
    "eniex": N_("ENIEX"),
    # a request's and a person's progress (intake), a case's state (authorization), a visa's standing (issuance)
    "SUBMITTED": N_("Submitted"),
    "UNDER_REVIEW": N_("Under review"),
    "AUTHORIZED": N_("Authorized"),
    "DENIED": N_("Denied"),
    "NOT_REQUIRED": N_("No visa required"),
    "ISSUED": N_("Issued"),
    "CANCELLED": N_("Cancelled"),
    "SUPERSEDED": N_("Superseded"),
    "PENDING": N_("Pending"),
    "GRANTED": N_("Granted"),
    "REVOKED": N_("Revoked"),
    "VALID": N_("Valid"),
    "EXPIRED": N_("Expired"),
    "NOT_YET_VALID": N_("Not yet valid"),
}


def of(code: object) -> str:
    """The msgid naming ``code``, or the code itself when it has none."""
    text = "" if code is None else str(code)
    return LABELS.get(text, text)
