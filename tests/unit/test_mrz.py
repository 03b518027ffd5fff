import re
from datetime import date

import pytest

from shared.mrz import (
    check_digit,
    country_field,
    iso_code,
    mrv_a,
    name_field,
    transliterate,
    validate_mrv_a,
)

# ICAO Doc 9303 Part 7 specimen MRV-A.
SPECIMEN_1 = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
SPECIMEN_2 = "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"
MRZ_LINE = re.compile(r"[A-Z0-9<]{44}")


def specimen(**overrides):
    kwargs = dict(
        document_number="L8988901C",
        type_letter="<",
        issuing_state="UTO",
        surnames="Eriksson",
        given_names="Anna María",
        nationality="XXX",
        date_of_birth=date(1940, 9, 7),
        sex="F",
        valid_until=date(1996, 12, 10),
        # The specimen's optional data is "6ZE184226B": the "9" before it is the expiry check digit.
        optional_data="6ZE184226B",
    )
    kwargs.update(overrides)
    return mrv_a(**kwargs)


# --- check digits -----------------------------------------------------------


def test_check_digits_of_mrv_a_specimen():
    assert check_digit("L8988901C") == "4"
    assert check_digit("400907") == "8"
    assert check_digit("961210") == "9"


def test_check_digits_of_td3_passport_specimen():
    # Doc 9303 Part 4 specimen: L898902C36UTO7408122F1204159...
    assert check_digit("L898902C<") == "3"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"


def test_check_digit_fillers_count_as_zero():
    assert check_digit("<<<<<<") == "0"
    assert check_digit("AB123<<<<") == check_digit("AB123") == "7"  # 70+33+1+14+9 = 127


@pytest.mark.parametrize("bad", ["l8988901c", "L898-8901", "A B", "É"])
def test_check_digit_rejects_other_characters(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


# --- full specimen ----------------------------------------------------------


def test_builds_icao_specimen_exactly():
    line1, line2 = specimen()
    assert line1 == SPECIMEN_1
    assert line2 == SPECIMEN_2


def test_validate_accepts_specimen():
    assert validate_mrv_a(SPECIMEN_1, SPECIMEN_2) == []


@pytest.mark.parametrize("position, label", [(9, "document number"), (19, "date of birth"), (27, "valid until")])
def test_validate_reports_each_altered_check_digit(position, label):
    wrong = str((int(SPECIMEN_2[position]) + 1) % 10)
    line2 = SPECIMEN_2[:position] + wrong + SPECIMEN_2[position + 1 :]
    problems = validate_mrv_a(SPECIMEN_1, line2)
    assert len(problems) == 1
    assert label in problems[0]


def test_validate_reports_altered_data_field():
    # Changing the data instead of the digit must be caught too.
    line2 = SPECIMEN_2.replace("400907", "400908")
    assert len(validate_mrv_a(SPECIMEN_1, line2)) == 1


def test_validate_reports_length_and_charset():
    problems = validate_mrv_a(SPECIMEN_1[:-1], SPECIMEN_2.lower())
    assert any("line 1" in p and "43" in p for p in problems)
    assert any("line 2" in p and "outside" in p for p in problems)
    assert validate_mrv_a(SPECIMEN_1, SPECIMEN_2 + "<")  # too long is a problem too


def test_validate_rejects_non_visa_document_code():
    assert validate_mrv_a("P" + SPECIMEN_1[1:], SPECIMEN_2)


# --- transliteration --------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Müller", "MUELLER"),
        ("Ñúñez", "NUNEZ"),
        ("Øster-gaard", "OESTER<GAARD"),
        ("O'Neil", "ONEIL"),
        ("O\u2019Neil", "ONEIL"),
        ("Straße", "STRASSE"),
        ("Åse Ærø", "AASE<AEROE"),
        ("Þórður Guðmundsson", "THORDUR<GUDMUNDSSON"),
        ("Œuvre", "OEUVRE"),
        ("Ĳsselmeer", "IJSSELMEER"),
        ("Łukasz Wałęsa", "LUKASZ<WALESA"),
        ("José  María -- de la Cruz ", "JOSE<MARIA<DE<LA<CRUZ"),
        ("  -Quispe- ", "QUISPE"),
        ("Çelik Dvořák", "CELIK<DVORAK"),
        ("St. John", "ST<JOHN"),
    ],
)
def test_transliterate(name, expected):
    assert transliterate(name) == expected


@pytest.mark.parametrize("name", ["Иван", "Γιώργος", "王", "محمد", "Anna Иванова"])
def test_transliterate_rejects_non_latin(name):
    with pytest.raises(ValueError):
        transliterate(name)


@pytest.mark.parametrize("name", ["", "   ", "'-'", "<<"])
def test_transliterate_rejects_empty_result(name):
    with pytest.raises(ValueError, match="transliterates to nothing"):
        transliterate(name)


def test_a_refusal_names_the_character_never_the_name():
    # The message reaches logs (a poison event at the consulate) as well as the sponsor's 422.
    with pytest.raises(ValueError) as refused:
        transliterate("ERIKSSON ΩMEGA")
    assert "'Ω' (U+03A9)" in str(refused.value) and "ERIKSSON" not in str(refused.value)


# --- name field and truncation ---------------------------------------------


def test_name_field_pads():
    assert name_field("Eriksson", "Anna María", 39) == "ERIKSSON<<ANNA<MARIA" + "<" * 19
    assert name_field("Quispe Mamani", "", 20) == "QUISPE<MAMANI" + "<" * 7


def test_name_field_exact_fit_is_untouched():
    assert name_field("ABCDE", "FGH", 10) == "ABCDE<<FGH"


def test_truncation_cuts_given_names_first():
    field = name_field("Wolfeschlegelsteinhausenbergerdorff", "Hubert Blaine", 39)
    assert field == "WOLFESCHLEGELSTEINHAUSENBERGERDORFF<<HU"


def test_truncation_does_not_leave_dangling_filler():
    surname = "A" * 33  # leaves room for exactly "ANA<" of "ANA<MARIA"
    assert name_field(surname, "Ana Maria", 39) == surname + "<<ANA<"


def test_truncation_keeps_first_initial_then_cuts_surname():
    field = name_field("B" * 50, "Zoe", 39)
    assert field == "B" * 36 + "<<Z"


def test_truncated_surname_does_not_end_in_filler():
    field = name_field("C" * 35 + " DEF", "Zoe", 39)  # cut falls on the space
    assert field == "C" * 35 + "<<Z<"
    assert "<<<Z" not in field


def test_truncation_keeps_lines_at_44():
    line1, line2 = specimen(
        surnames="Fernández de Córdoba y Figueroa de la Cerda Ponce de León",
        given_names="María del Pilar Teresa Cayetana",
    )
    assert MRZ_LINE.fullmatch(line1) and MRZ_LINE.fullmatch(line2)
    assert line1.startswith("V<UTOFERNANDEZ<DE<CORDOBA<Y<FIGUEROA<DE<")
    assert line1.endswith("<<M")
    assert validate_mrv_a(line1, line2) == []


# --- other fields -------------------------------------------------------------


def test_country_field():
    assert country_field("D") == "D<<"
    assert country_field("PER") == "PER"
    for bad in ["", "PERU", "P3R", "<<<", "É"]:
        with pytest.raises(ValueError):
            country_field(bad)


@pytest.mark.parametrize("germany", ["D", "DEU", "deu", "D<<"])
def test_germany_issuing_state_and_nationality(germany):
    # ICAO Doc 9303 Part 3 writes Germany "D"; the system holds ISO's DEU (docs/domain/mrz.md).
    line1, line2 = specimen(issuing_state=germany, nationality=germany)
    assert line1[2:5] == "D<<"
    assert line2[10:13] == "D<<"
    assert validate_mrv_a(line1, line2) == []


def test_iso_and_icao_forms_of_a_state():
    assert iso_code("D") == iso_code("D<<") == iso_code("DEU") == "DEU"
    assert iso_code("UNO") == "UNO" and iso_code("per") == "PER"
    assert country_field("DEU") == "D<<" and country_field("XXA") == "XXA"


def test_short_document_number_is_padded_and_check_digit_covers_fillers():
    _, line2 = specimen(document_number="AB123")
    assert line2[:10] == "AB123<<<<7"


def test_default_issuing_state_is_peru():
    kwargs = dict(
        document_number="V0001234",
        surnames="Quispe",
        given_names="Rosa",
        nationality="BOL",
        date_of_birth=date(1985, 3, 1),
        sex="F",
        valid_until=date(2026, 3, 1),
    )
    line1, line2 = mrv_a(**kwargs)
    assert line1 == "V<PERQUISPE<<ROSA" + "<" * 27
    assert line2[:20] == "V0001234<" + check_digit("V0001234<") + "BOL850301" + check_digit("850301")
    assert validate_mrv_a(line1, line2) == []


def test_unknown_date_of_birth_is_fillers_with_zero_check_digit():
    _, line2 = specimen(date_of_birth=None)
    assert line2[13:20] == "<<<<<<0"
    assert validate_mrv_a(SPECIMEN_1, line2) == []


@pytest.mark.parametrize("sex, code", [("M", "M"), ("F", "F"), ("X", "<"), ("<", "<")])
def test_sex_codes(sex, code):
    _, line2 = specimen(sex=sex)
    assert line2[20] == code


def test_type_letter_is_second_character():
    line1, _ = specimen(type_letter="D")
    assert line1[:2] == "VD"


def test_optional_data_is_padded_to_16():
    _, line2 = specimen(optional_data="")
    assert line2[28:] == "<" * 16


@pytest.mark.parametrize(
    "override",
    [
        {"document_number": "ABCDEFGHIJ"},  # 10 characters
        {"document_number": ""},
        {"document_number": "AB-123"},
        {"type_letter": "DD"},
        {"type_letter": "1"},
        {"sex": "Q"},
        {"optional_data": "A" * 17},
        {"optional_data": "ZE-1"},
        {"nationality": "XXXX"},
        {"surnames": "Иванов"},
        {"surnames": "'"},
    ],
)
def test_invalid_input_is_rejected(override):
    with pytest.raises(ValueError):
        specimen(**override)


# --- every letter, every boundary, every refusal in words ---------------------------------------------------


def test_check_digit_values_every_letter_to_z():
    # A=10 … Z=35, weights 7, 3, 1: X=33, Y=34, Z=35 → 231 + 102 + 35 = 368.
    assert check_digit("XYZ") == "8"
    assert check_digit("Z") == "5"


def test_check_digit_refusal_names_the_character_and_the_field():
    with pytest.raises(ValueError) as refused:
        check_digit("AB-1")
    assert str(refused.value) == "invalid MRZ character '-' in 'AB-1'"


def test_transliterate_keeps_a_leading_or_trailing_x():
    assert transliterate("Xavier Max") == "XAVIER<MAX"


def test_punctuation_inside_one_character_drops_only_itself():
    # NFKD writes "℅" as "c/o" and "⑴" as "(1)": the slash and the parentheses carry no letters, the rest counts.
    assert transliterate("A℅B") == "ACOB"
    with pytest.raises(ValueError, match=re.escape("cannot transliterate '⑴' (U+2474)")):
        transliterate("Ana ⑴")


def test_transliteration_refusals_in_words():
    with pytest.raises(ValueError) as refused:
        transliterate("ERIKSSON ΩMEGA")
    assert str(refused.value) == "cannot transliterate 'Ω' (U+03A9)"
    with pytest.raises(ValueError) as refused:
        transliterate("'-'")
    assert str(refused.value) == "the name transliterates to nothing"


def test_a_cut_surname_ending_in_x_keeps_it():
    assert name_field("Marx Engels", "", 4) == "MARX"
    assert name_field("Abcx Marx", "Zoe", 7) == "ABCX<<Z"


def test_the_narrowest_name_field_holds_surname_separator_and_initial():
    assert name_field("Eriksson", "Anna", 4) == "E<<A"
    with pytest.raises(ValueError) as refused:
        name_field("Eriksson", "Anna", 3)
    assert str(refused.value) == "name field width 3 cannot hold surname, separator and initial"


def test_the_defaults_are_peru_and_no_optional_data():
    line1, line2 = mrv_a(
        document_number="V0001234",
        surnames="Quispe",
        given_names="Rosa",
        nationality="BOL",
        date_of_birth=date(1985, 3, 1),
        sex="F",
        valid_until=date(2026, 3, 1),
    )
    assert line1[:5] == "V<PER" and line2[28:] == "<" * 16


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"document_number": "AB-123"}, "invalid document number 'AB-123'"),
        ({"optional_data": "ZE-1"}, "invalid optional data 'ZE-1'"),
        ({"type_letter": "1"}, "invalid document type letter '1'"),
        ({"sex": "Q"}, "invalid sex 'Q'"),
        ({"nationality": "XXXX"}, "invalid ICAO state code 'XXXX'"),
    ],
)
def test_invalid_input_is_refused_in_words(override, why):
    with pytest.raises(ValueError) as refused:
        specimen(**override)
    assert str(refused.value) == why


def test_validate_words_each_problem():
    wrong = SPECIMEN_2[:9] + "0" + SPECIMEN_2[10:19] + "0" + SPECIMEN_2[20:27] + "0" + SPECIMEN_2[28:]
    assert validate_mrv_a("P" + SPECIMEN_1[1:], wrong) == [
        "line 1 does not start with document code 'V'",
        "document number check digit is '0', expected '4'",
        "date of birth check digit is '0', expected '8'",
        "valid until check digit is '0', expected '9'",
    ]
