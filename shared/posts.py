"""The consular posts: which posts issue visas, each one's name and visa-number prefix, and the default post.

MRE authorizes centrally; each post issues only the visas authorized for it (README, "Consular posts"). The list
is one TOML file (``VISA_POSTS``; the packaged ``shared/posts.toml`` by default)::

    default = "LIM"

    [[post]]
    code = "LIM"            # 3 to 6 capital letters or digits (ISSUANCE_POST, the seal's signer post)
    name = "Lima"
    visa_prefix = "PE"      # 1 to 3 capital letters: the first characters of every visa number it issues

Intake validates a sponsor's choice against it, authorization assigns the default post and checks an officer's
choice, issuance takes its prefix from it and ``visa broker setup`` declares one queue per post. ``parse`` is
pure; ``load`` reads a file; ``PostsFile`` reads it again when it changes, so that a post added to the file is
known to the running services without a restart. A malformed file raises ``PostsError`` naming the file and the
entry.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.i18n import N_, Invalid

log = logging.getLogger("visa.posts")

PACKAGED = Path(__file__).with_name("posts.toml")
CODE = re.compile(r"^[A-Z0-9]{3,6}$")
PREFIX = re.compile(r"^[A-Z]{1,3}$")


class PostsError(ValueError):
    """A posts file that cannot be read as a list of posts."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


class UnknownPost(Invalid):
    """A post code that is not in the configured list (a ``ValueError``; worded in the reader's language)."""

    def __init__(self, code: str, known: tuple[str, ...]) -> None:
        self.code = code
        super().__init__(N_("is not a consular post of this system: one of {posts}"), posts=", ".join(known))


@dataclass(frozen=True)
class Post:
    code: str
    name: str
    visa_prefix: str


@dataclass(frozen=True)
class Posts:
    """The configured posts, in the file's order, and the one a request goes to when nobody chose."""

    posts: tuple[Post, ...]
    default: str

    def __post_init__(self) -> None:
        if not self.posts:
            raise ValueError("no post")
        codes = [post.code for post in self.posts]
        if len(set(codes)) != len(codes):
            raise ValueError("a post code appears twice")
        prefixes = [post.visa_prefix for post in self.posts]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("two posts share a visa prefix: their visa numbers would collide")
        if self.default not in codes:
            raise ValueError(f"the default post {self.default!r} is not in the list")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(post.code for post in self.posts)

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __iter__(self) -> Iterator[Post]:
        return iter(self.posts)

    def get(self, code: str) -> Post:
        """The post ``code``; raises ``UnknownPost``."""
        for post in self.posts:
            if post.code == code:
                return post
        raise UnknownPost(code, self.codes)

    def chosen(self, code: str | None) -> str:
        """The post a request goes to: ``code`` when given (it must be known), else the default."""
        if code is None:
            return self.default
        return self.get(code).code


def _text(entry: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str] | None = None) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PostsError(where, f"{key} must be a non-empty string")
    if pattern is not None and not pattern.fullmatch(value):
        raise PostsError(where, f"{key} {value!r} must match {pattern.pattern}")
    return value


def parse(document: Mapping[str, Any], where: str = "posts") -> Posts:
    """The posts of a parsed TOML document; raises ``PostsError``."""
    entries = document.get("post")
    if not isinstance(entries, list) or not entries:
        raise PostsError(where, "no [[post]] entry")
    unknown = set(document) - {"default", "post"}
    if unknown:
        raise PostsError(where, f"unknown keys {sorted(unknown)}")
    posts = []
    for index, entry in enumerate(entries):
        at = f"{where}, post {index + 1}"
        if not isinstance(entry, dict):
            raise PostsError(at, "not a table")
        if extra := set(entry) - {"code", "name", "visa_prefix"}:
            raise PostsError(at, f"unknown keys {sorted(extra)}")
        posts.append(
            Post(
                code=_text(entry, "code", at, CODE),
                name=_text(entry, "name", at),
                visa_prefix=_text(entry, "visa_prefix", at, PREFIX),
            )
        )
    default = document.get("default", posts[0].code)
    if not isinstance(default, str):
        raise PostsError(where, "default must be a post code")
    try:
        return Posts(tuple(posts), default)
    except ValueError as error:
        raise PostsError(where, str(error)) from None


def load(path: Path | None = None) -> Posts:
    """The posts of the file ``path`` (the packaged list when None); raises ``PostsError``."""
    path = path or PACKAGED
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PostsError(str(path), "no such file (VISA_POSTS)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PostsError(str(path), str(error)) from None
    return parse(document, str(path))


class PostsFile:
    """The posts of a file, read again when the file changes (its modification time or size).

    Read at construction: a malformed file stops the service at start. A file that becomes malformed later is
    logged and the last list read stays in force.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or PACKAGED
        self._stamp = self._stat()
        self._posts = load(self.path)

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def current(self) -> Posts:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._posts = load(self.path)
                log.info("consular posts read again from %s: %s", self.path, ", ".join(self._posts.codes))
            except PostsError as error:
                log.error("consular posts file changed but cannot be read; keeping the last list: %s", error)
        return self._posts
