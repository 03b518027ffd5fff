"""Fixtures of the browser tests: the three services as processes (real RabbitMQ and PostgreSQL, policy review, as
tests/e2e runs them) and the machine's Chromium driven by Playwright. Playwright never downloads a browser here:
Debian's ``chromium`` (``make test`` and ``.ci/run`` install it when missing); without it the tests fail."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.browser import CHROMIUM, Screenshots
from tests.support.system import SERVICES, System

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found is None:
        pytest.fail(
            "chromium is missing: install Debian's package (apt-get install -y chromium; `make test` does)",
            pytrace=False,
        )
    return found


@pytest.fixture
async def chromium(chromium_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def consoles(tmp_path, broker, redis_url, postgres_database, seal_keys):
    """The three services as processes, officers deciding (policy review); their consoles sign sessions with a
    secret of the test's own, and the consulate prints with the session's seal key."""
    databases = {service: await postgres_database(service) for service in SERVICES}
    running = System.on(broker, workdir=tmp_path, redis_url=redis_url, databases=databases, policy="review")
    running.env.update(
        VISA_CONSOLE_SECRET=os.urandom(24).hex(),
        ISSUANCE_SEAL_KEYS=str(seal_keys.private_dir),
        ISSUANCE_SEAL_PUBLIC_KEYS=str(seal_keys.published_path),
    )
    await running.start()
    yield running
    running.stop()


@pytest.fixture
def screenshots(request) -> Screenshots:
    """Where this test's screenshots go: var/screenshots/<test>/ (and, for the README's, the folder named by
    VISA_DOCS_SCREENSHOTS when set)."""
    return Screenshots.for_test(request.node.name)
