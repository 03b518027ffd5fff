"""Visa-waiver treaties for short stays: versioned reference data and its shared cache."""

from shared.treaties.cache import TreatyCache
from shared.treaties.model import TreatyEntry, TreatyList, load_bundled

__all__ = ["TreatyCache", "TreatyEntry", "TreatyList", "load_bundled"]
