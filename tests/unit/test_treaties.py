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
    assert treaties.waiver_for("SWE", PassportType.DIPLOMATIC, TODAY) is None


def test_lowercase_nationality_is_accepted(treaties: TreatyList) -> None:
    assert treaties.waiver_for("nld", PassportType.SERVICE, TODAY) is not None


def test_entry_does_not_apply_before_it_enters_into_force(treaties: TreatyList) -> None:
    turkey = treaties.waiver_for("TUR", PassportType.ORDINARY, TODAY)
    assert turkey is not None and turkey.in_force_from == dt.date(2013, 6, 12)
    assert treaties.waiver_for("TUR", PassportType.ORDINARY, dt.date(2013, 6, 11)) is None
    assert treaties.waiver_for("TUR", PassportType.ORDINARY, dt.date(2013, 6, 12)) is not None


def test_entry_does_not_apply_after_it_ends(treaties: TreatyList) -> None:
    # The bundled list has no ended agreement yet; temporary event waivers will.
    ended = treaties.entries[0].model_copy(update={"in_force_until": dt.date(2026, 1, 31)})
    alb = treaties.model_copy(update={"entries": (ended,)})
    assert alb.waiver_for("ALB", PassportType.DIPLOMATIC, dt.date(2026, 1, 31)) is not None
    assert alb.waiver_for("ALB", PassportType.DIPLOMATIC, dt.date(2026, 2, 1)) is None


def test_passport_validity_requirements(treaties: TreatyList) -> None:
    required = {e.country for e in treaties.entries if e.min_passport_validity_months == 6}
    assert required == {"IDN", "ARE"}


def test_every_entry_is_sourced_and_verified(treaties: TreatyList) -> None:
    assert treaties.entries
    for entry in treaties.entries:
        assert entry.source.strip(), entry.country
        assert entry.instrument.strip(), entry.country
        assert entry.verified, entry.country


def test_one_entry_per_country_of_the_verified_table(treaties: TreatyList) -> None:
    countries = [e.country for e in treaties.entries]
    assert len(countries) == len(set(countries))
    assert set(countries) == {
        "ALB", "BEL", "NLD", "LUX", "VAT", "IDN", "KWT", "LVA", "MAR",
        "PHL", "RUS", "SRB", "TUR", "ARE", "GBR", "AZE", "MNG",
    }  # fmt: skip


def test_version_parses(treaties: TreatyList) -> None:
    assert treaties.version == "2026-11-26.1"
    assert version_order(treaties.version) == (dt.date(2026, 11, 26), 1)
    assert treaties.published == dt.date(2026, 11, 26)


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
