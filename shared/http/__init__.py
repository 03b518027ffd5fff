"""What the three services' HTTP sides share: the error body and its handlers, the request guard (body size,
NUL and lone surrogates), rate limits. ``shared.service.create_app`` installs them all."""

from .errors import ErrorBody, Issue, error_responses, install_error_handlers, is_database_outage
from .guard import RequestGuard
from .ratelimit import RateLimitMiddleware, RateLimits, limited_per_account

__all__ = [
    "ErrorBody",
    "Issue",
    "RateLimitMiddleware",
    "RateLimits",
    "RequestGuard",
    "error_responses",
    "install_error_handlers",
    "is_database_outage",
    "limited_per_account",
]
