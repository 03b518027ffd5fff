from __future__ import annotations

import datetime as dt

import pytest

from services.issuance.visas import Standing, machine_readable_zone, standing, visa_number
from shared.contracts import ImmigrationStatus, Passport, PassportType, Person, Sex
from shared.mrz import validate_mrv_a


def test_visa_numbers_fill_the_nine_characters_of_the_mrz_field():
    assert visa_number("PE", 1) == "PE0000001"
    assert visa_number("LIM", 42) == "LIM000042"
    with pytest.raises(OverflowError):
        visa_number("PE", 10**7)


def test_the_mrz_of_a_diplomatic_visa():
    person = Person(
        person_id="p0",
        role="PRINCIPAL",
        surnames="Eriksson",
        given_names="Anna María",
        sex=Sex.FEMALE,
        date_of_birth=dt.date(1974, 8, 12),
        nationality="SWE",
        passport=Passport(
            number="D1234567", type=PassportType.DIPLOMATIC, issuing_state="SWE", expires_on=dt.date(2032, 5, 1)
        ),
    )
    line1, line2 = machine_readable_zone(
        "PE0000001", person, ImmigrationStatus.DIPLOMATIC_RESIDENT, dt.date(2030, 1, 14)
    )
    assert line1 == "VDPERERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
    assert line2.startswith("PE00000018SWE7408122F3001145")
    assert validate_mrv_a(line1, line2) == []


@pytest.mark.parametrize(
    ("on", "cancelled", "expected"),
    [
        (dt.date(2027, 1, 1), False, Standing.VALID),
        (dt.date(2026, 12, 31), False, Standing.NOT_YET_VALID),
        (dt.date(2030, 1, 15), False, Standing.EXPIRED),
        (dt.date(2030, 1, 14), False, Standing.VALID),
        (dt.date(2027, 1, 1), True, Standing.CANCELLED),
        (dt.date(2031, 1, 1), True, Standing.CANCELLED),  # cancelled wins over expired
    ],
)
def test_a_verifier_sees_the_visa_standing(on, cancelled, expected):
    assert (
        standing(valid_from=dt.date(2027, 1, 1), valid_until=dt.date(2030, 1, 14), cancelled=cancelled, on=on)
        is expected
    )
