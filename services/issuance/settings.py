from pathlib import Path

from pydantic import Field

from shared.posts import Posts
from shared.settings import VAR_DIR, CommonSettings, RateLimit


class IssuanceSettings(CommonSettings):
    issuance_database_url: str = Field(f"sqlite+aiosqlite:///{VAR_DIR}/issuance.db", description="Issuance's database.")
    issuance_host: str = Field("127.0.0.1", description="Address issuance's HTTP API listens on.")
    issuance_port: int = Field(8003, description="Port of issuance's HTTP API.")
    issuance_visa_prefix: str | None = Field(
        None,
        pattern=r"^[A-Z]{1,3}$",
        description="Deprecated: overrides the visa-number prefix the posts list (VISA_POSTS) gives ISSUANCE_POST; "
        "None: the list's.",
    )
    issuance_rate_limit_per_verifier: RateLimit = Field(
        "30/minute", description="Visa lookups one verifier may make to one issuance process (429 beyond it)."
    )
    # The printed visa and its seal (docs/domain/visa-document.md).
    issuance_post: str = Field(
        "LIM",
        pattern=r"^[A-Z0-9]{3,6}$",
        description="The consular post this issuance runs for (one of VISA_POSTS): it consumes that post's queue, "
        "numbers visas with its prefix, and the seals it prints name it.",
    )

    def visa_prefix(self, posts: Posts) -> str:
        """The prefix of the visa numbers this post issues: the posts list's, unless ISSUANCE_VISA_PREFIX overrides
        it (deprecated). Raises ``UnknownPost`` when ISSUANCE_POST is not in the list."""
        post = posts.get(self.issuance_post)
        return self.issuance_visa_prefix or post.visa_prefix

    issuance_seal_keys: Path = Field(
        VAR_DIR / "seal" / "private", description="Directory of this post's private seal keys (<kid>.pem, 0600)."
    )
    issuance_seal_public_keys: Path = Field(
        VAR_DIR / "seal" / "seal-keys.json", description="The published seal keys (JSON) verifiers check seals with."
    )
    issuance_sticker_font: Path | None = Field(
        None,
        description="OCR-B (OpenType) for the MRZ of printed visas; None: .tools/fonts-ocr-b's or the system's.",
    )
