"""ICAO Doc 9303 machine readable visa, format MRV-A (Part 7), and name transliteration (Part 3).

The facts relied on, with ICAO's addresses: docs/domain/mrz.md.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from shared.i18n import Invalid

LINE_LENGTH = 44
NAME_WIDTH = 39  # line 1 minus "V", type letter and issuing state
_MRZ_CHARS = re.compile(r"[A-Z0-9<]*")
_WEIGHTS = (7, 3, 1)

# Part 3 table entries that differ from "drop the diacritic", or that NFKD cannot decompose.
_TRANSLIT = {
    "Ä": "AE",
    "Ö": "OE",
    "Ü": "UE",
    "Å": "AA",
    "Æ": "AE",
    "Ø": "OE",
    "ẞ": "SS",
    "Þ": "TH",
    "Ð": "D",
    "Œ": "OE",
    "Ñ": "N",
    "Ĳ": "IJ",
    "Ł": "L",
    "Đ": "D",
    "Ħ": "H",
    "Ŀ": "L",
    "Ŋ": "N",
    "Ŧ": "T",
}
# Marks that stand for an apostrophe in names: modifier-letter apostrophe and okina (category Lm, not
# punctuation) and the grave accent typed for one (Sk). Other symbols (emoji, currency, maths) are refused.
_APOSTROPHES = {"\u02bc", "\u02bb", "`"}


def check_digit(field: str) -> str:
    total = 0
    for i, ch in enumerate(field):
        if "0" <= ch <= "9":
            value = ord(ch) - ord("0")
        elif "A" <= ch <= "Z":
            value = ord(ch) - ord("A") + 10
        elif ch == "<":
            value = 0
        else:
            raise ValueError(f"invalid MRZ character {ch!r} in {field!r}")
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def transliterate(name: str) -> str:
    out: list[str] = []
    for ch in name.upper():  # upper() already turns ß into SS
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
            continue
        for part in unicodedata.normalize("NFKD", ch):
            cat = unicodedata.category(part)
            if part.isascii() and part.isalpha():
                out.append(part.upper())
            elif unicodedata.combining(part):
                continue  # accent stripped from its base letter
            elif part.isspace() or cat == "Pd" or part == "<":
                out.append("<")  # word separators become the filler
            elif cat[0] == "P" or part in _APOSTROPHES:
                continue  # apostrophes, dots, commas carry no letters
            else:
                # Non-Latin script, a digit, an emoji or another symbol: dropping it silently would print
                # a name on a travel document that is not the person's; a wrong guess would too.
                # The character, not the name: the message reaches logs (a poison event) and 422s.
                raise Invalid("cannot transliterate {character!r} (U+{code:04X})", character=ch, code=ord(ch))
    result = re.sub("<+", "<", "".join(out)).strip("<")
    if not result:
        raise Invalid("the name transliterates to nothing")
    return result


def name_field(surnames: str, given_names: str, width: int) -> str:
    primary = transliterate(surnames)
    secondary = transliterate(given_names) if given_names.strip() else ""
    if not secondary:
        return primary[:width].ljust(width, "<")
    full = f"{primary}<<{secondary}"
    if len(full) <= width:
        return full.ljust(width, "<")
    # Too long: give up given-name characters first, but keep the first initial.
    budget = width - len(primary) - 2
    if budget >= 1:
        # The given names fill the field to its end: a cut inside "ANNA<MARIA" leaves "ANNA<", which is all filler.
        return f"{primary}<<{secondary[:budget]}"
    if width < 4:
        raise ValueError(f"name field width {width} cannot hold surname, separator and initial")
    return f"{primary[: width - 3].rstrip('<')}<<{secondary[0]}".ljust(width, "<")


# Where ICAO Doc 9303 Part 3 writes a State otherwise than ISO 3166-1 alpha-3 (docs/domain/mrz.md): Germany is
# "D" in a machine readable zone. Every other code of Part 3 is its ISO code, or one ISO does not have (UNO,
# XXA…), written as it is. The system keeps ISO codes; a zone is written with ICAO's.
ICAO_FORMS = {"DEU": "D"}
ISO_FORMS = {icao: iso for iso, icao in ICAO_FORMS.items()}


def iso_code(code: str) -> str:
    """The ISO 3166-1 alpha-3 code of a State written the ICAO way (``D`` or ``D<<`` → ``DEU``)."""
    code = code.strip().upper().rstrip("<")
    return ISO_FORMS.get(code, code)


def country_field(code: str) -> str:
    """A State's three characters in a machine readable zone: ICAO's form, filled with ``<`` (``DEU`` → ``D<<``)."""
    code = iso_code(code)
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"invalid ICAO state code {code!r}")
    return ICAO_FORMS.get(code, code).ljust(3, "<")


def _padded(value: str, width: int, pattern: str, what: str) -> str:
    value = value.strip().upper()
    if not re.fullmatch(pattern, value) or len(value) > width:
        raise ValueError(f"invalid {what} {value!r}")
    return value.ljust(width, "<")


def _yymmdd(day: datetime.date | None) -> str:
    return "<<<<<<" if day is None else day.strftime("%y%m%d")


def mrv_a(
    *,
    document_number: str,
    type_letter: str = "<",
    issuing_state: str = "PER",
    surnames: str,
    given_names: str,
    nationality: str,
    date_of_birth: datetime.date | None,
    sex: str,
    valid_until: datetime.date,
    optional_data: str = "",
) -> tuple[str, str]:
    if not re.fullmatch(r"[A-Z<]", type_letter):
        raise ValueError(f"invalid document type letter {type_letter!r}")
    sex_code = {"M": "M", "F": "F", "X": "<", "<": "<"}.get(sex.strip().upper())
    if sex_code is None:
        raise ValueError(f"invalid sex {sex!r}")
    number = _padded(document_number, 9, r"[A-Z0-9]+", "document number")
    dob, expiry = _yymmdd(date_of_birth), _yymmdd(valid_until)
    line1 = f"V{type_letter}{country_field(issuing_state)}{name_field(surnames, given_names, NAME_WIDTH)}"
    line2 = (
        f"{number}{check_digit(number)}{country_field(nationality)}"
        f"{dob}{check_digit(dob)}{sex_code}{expiry}{check_digit(expiry)}"
        f"{_padded(optional_data, 16, r'[A-Z0-9<]*', 'optional data')}"
    )
    for line in (line1, line2):  # last guard before anything is printed on a visa
        if len(line) != LINE_LENGTH or not _MRZ_CHARS.fullmatch(line):
            raise ValueError(f"malformed MRV-A line {line!r}")
    return line1, line2


def validate_mrv_a(line1: str, line2: str) -> list[str]:
    problems: list[str] = []
    for n, line in ((1, line1), (2, line2)):
        if len(line) != LINE_LENGTH:
            problems.append(f"line {n} has {len(line)} characters, expected {LINE_LENGTH}")
        if not _MRZ_CHARS.fullmatch(line):
            problems.append(f"line {n} contains characters outside A-Z, 0-9 and '<'")
    if not line1.startswith("V"):
        problems.append("line 1 does not start with document code 'V'")
    if len(line2) == LINE_LENGTH and _MRZ_CHARS.fullmatch(line2):
        for what, start, end in (("document number", 0, 9), ("date of birth", 13, 19), ("valid until", 21, 27)):
            expected = check_digit(line2[start:end])
            if line2[end] != expected:
                problems.append(f"{what} check digit is {line2[end]!r}, expected {expected!r}")
    return problems
