"""The bundled treaty list and waiver_for: pure, no I/O beyond reading the packaged file."""

import datetime as dt

import pytest
from pydantic import ValidationError

from shared.contracts import PassportType
from shared.treaties import TreatyList, load_bundled
from shared.treaties.model import version_order

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def treaties() -> TreatyList:
    return load_bundled()


def test_albania_diplomatic_is_exempt(treaties: TreatyList) -> None:
    entry = treaties.waiver_for("ALB", PassportType.DIPLOMATIC, TODAY)
    assert entry is not None
    assert (entry.max_stay_days, entry.window_days) == (90, 180)


def test_albania_ordinary_is_not(treaties: TreatyList) -> None:
    assert treaties.waiver_for("ALB", PassportType.ORDINARY, TODAY) is None


def test_united_kingdom_official_is_exempt(treaties: TreatyList) -> None:
    entry = treaties.waiver_for("GBR", PassportType.OFFICIAL, TODAY)
    assert entry is not None and entry.max_stay_days is None  # the decree states no length


def test_country_without_agreement_is_not_exempt(treaties: TreatyList) -> None:
    assert treaties.waiver_for("USA", PassportType.DIPLOMATIC, TODAY) is None


def test_lowercase_nationality_is_accepted(treaties: TreatyList) -> None:
    assert treaties.waiver_for("nld", PassportType.SERVICE, TODAY) is not None


def test_entry_does_not_apply_before_it_enters_into_force(treaties: TreatyList) -> None:
    emirates = treaties.waiver_for("ARE", PassportType.SERVICE, TODAY)
    assert emirates is not None and emirates.in_force_from == dt.date(2020, 11, 8)
    assert treaties.waiver_for("ARE", PassportType.SERVICE, dt.date(2020, 11, 7)) is None
    assert treaties.waiver_for("ARE", PassportType.SERVICE, dt.date(2020, 11, 8)) is not None


def test_entry_does_not_apply_after_it_ends(treaties: TreatyList) -> None:
    # The bundled list has no ended agreement yet; temporary event waivers will.
    ended = treaties.entries[0].model_copy(update={"in_force_until": dt.date(2026, 1, 31)})
    alb = treaties.model_copy(update={"entries": (ended,)})
    assert alb.waiver_for("ALB", PassportType.DIPLOMATIC, dt.date(2026, 1, 31)) is not None
    assert alb.waiver_for("ALB", PassportType.DIPLOMATIC, dt.date(2026, 2, 1)) is None


def test_passport_validity_requirements(treaties: TreatyList) -> None:
    required = {e.country for e in treaties.entries if e.min_passport_validity_months == 6}
    assert required == {"IDN", "ARE"}


def test_every_entry_is_sourced_and_the_unverified_say_why(treaties: TreatyList) -> None:
    assert treaties.entries
    for entry in treaties.entries:
        assert entry.source.strip(), entry.country
        assert entry.instrument.strip(), entry.country
        assert entry.verified or (entry.note or "").strip(), entry.country
    # docs/domain/waivers.md: a visa agency's notice (Turkey), news reports only (Azerbaijan, Mongolia).
    assert {e.country for e in treaties.entries if not e.verified} == {"TUR", "AZE", "MNG"}


def test_unverified_entries_are_not_applied_unless_asked(treaties: TreatyList) -> None:
    for country, kind in [
        ("TUR", PassportType.ORDINARY),
        ("AZE", PassportType.DIPLOMATIC),
        ("MNG", PassportType.DIPLOMATIC),
    ]:
        assert treaties.waiver_for(country, kind, TODAY) is None, country
        assert treaties.waiver_for(country, kind, TODAY, include_unverified=True) is not None, country
        assert treaties.candidates(country, country, TODAY) == ()
        assert len(treaties.candidates(country, country, TODAY, include_unverified=True)) == 1


def test_one_entry_per_country_and_instrument(treaties: TreatyList) -> None:
    pairs = [(e.country, e.instrument) for e in treaties.entries]
    assert len(pairs) == len(set(pairs))
    bilateral = {c for c, instrument in pairs if not instrument.startswith("EU-Peru")}
    eu = {c for c, instrument in pairs if instrument.startswith("EU-Peru")}
    assert bilateral == {
        "ALB", "BEL", "NLD", "LUX", "VAT", "IDN", "KWT", "LVA", "MAR",
        "PHL", "RUS", "SRB", "TUR", "ARE", "GBR", "AZE", "MNG",
    }  # fmt: skip
    # Council Decision (EU) 2016/1744: the Union's member states but Ireland, which takes no part.
    assert eu == {
        "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN",
        "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE",
    }  # fmt: skip
    assert "IRL" not in bilateral | eu


def test_the_eu_agreement_covers_every_passport_for_90_days_in_180(treaties: TreatyList) -> None:
    for kind in (PassportType.ORDINARY, PassportType.DIPLOMATIC, PassportType.SERVICE):
        entry = treaties.waiver_for("SWE", kind, TODAY)
        assert entry is not None and (entry.max_stay_days, entry.window_days) == (90, 180), kind
        assert entry.decided_by == "nationality" and entry.purposes is None
        assert "paid activity" in " ".join(entry.conditions)
        assert entry.in_force_from == dt.date(2016, 3, 15)
    assert treaties.waiver_for("SWE", PassportType.DIPLOMATIC, dt.date(2016, 3, 14)) is None
    assert treaties.waiver_for("IRL", PassportType.DIPLOMATIC, TODAY) is None
    assert treaties.waiver_for("D", PassportType.DIPLOMATIC, TODAY) is not None  # ICAO's Germany


def test_a_bilateral_agreement_comes_before_the_eu_one(treaties: TreatyList) -> None:
    latvia = treaties.candidates("LVA", "LVA", TODAY)
    assert [e.instrument for e in latvia] == ["agreement", "EU-Peru short-stay visa waiver agreement"]
    assert latvia[0].purposes == ("OFFICIAL_ACTIVITY", "TRANSIT")  # likumi.lv 224949, art. III


def test_who_decides_nationality_or_the_passports_issuing_state(treaties: TreatyList) -> None:
    # The Holy See's passports, whoever holds them; the EU's citizens, whichever passport they hold.
    assert [e.country for e in treaties.candidates("ITA", "VAT", TODAY)] == ["VAT", "ITA"]
    assert [e.country for e in treaties.candidates("VAT", "ITA", TODAY)] == []  # the passport is Italy's
    assert [e.country for e in treaties.candidates("ALB", "ITA", TODAY)] == ["ALB"]  # "Los nacionales de …"
    assert [e.country for e in treaties.candidates("USA", "GBR", TODAY)] == ["GBR"]  # "… del Reino Unido"
    assert treaties.candidates("GBR", "USA", TODAY) == ()


def test_the_stays_the_instruments_state(treaties: TreatyList) -> None:
    stays = {e.country: e.max_stay_days for e in treaties.entries if not e.instrument.startswith("EU-Peru")}
    assert stays["IDN"] == 30  # art. I: "no exceda los 30 (treinta) días"
    assert stays["SRB"] == 90  # art. 1 of the text in El Peruano, 2003-01-18
    assert stays["VAT"] is None and stays["GBR"] is None and stays["RUS"] is None  # not stated


def test_version_parses(treaties: TreatyList) -> None:
    assert treaties.version == "2026-11-27.1"
    assert version_order(treaties.version) == (dt.date(2026, 11, 27), 1)
    assert treaties.published == dt.date(2026, 11, 27)


def test_versions_sort_by_date_then_revision_number() -> None:
    assert version_order("2026-11-26.10") > version_order("2026-11-26.9")
    assert version_order("2026-11-27.1") > version_order("2026-11-26.10")


def test_list_is_immutable(treaties: TreatyList) -> None:
    with pytest.raises(ValidationError):
        treaties.entries[0].max_stay_days = 365  # type: ignore[misc]


class _DownRedis:
    """A Redis that is down: every call fails, and each call is counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, key):
        from redis.exceptions import ConnectionError

        self.calls += 1
        raise ConnectionError("down")


async def test_an_outage_is_not_paid_for_by_every_caller():
    from shared.treaties import TreatyCache, load_bundled

    redis = _DownRedis()
    cache = TreatyCache(redis, retry_after_seconds=60)
    for _ in range(5):
        assert (await cache.current()).version == load_bundled().version
    assert redis.calls == 1  # later callers are served from the source without waiting on Redis

    cache = TreatyCache(redis := _DownRedis(), retry_after_seconds=0)
    for _ in range(3):
        await cache.current()
    assert redis.calls == 3  # with no pause, every call tries Redis again
