"""Helpers of the browser tests (tests/browser): screenshots, the consoles' sign-in, waiting for what the events
bring, and the accessibility check (axe-core, through axe-playwright-python)."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SERIOUS = ("serious", "critical")


@dataclass
class Screenshots:
    folder: Path
    docs: Path | None

    @classmethod
    def for_test(cls, name: str) -> Screenshots:
        folder = ROOT / "var" / "screenshots" / re.sub(r"[^\w.-]+", "_", name)
        folder.mkdir(parents=True, exist_ok=True)
        docs = os.environ.get("VISA_DOCS_SCREENSHOTS")
        return cls(folder, Path(docs) if docs else None)

    async def take(self, page, name: str, *, readme: str | None = None) -> Path:
        """A full-page screenshot ``<name>.png``; ``readme`` names the copy the README shows, written only when
        VISA_DOCS_SCREENSHOTS names a folder."""
        path = self.folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if readme and self.docs is not None:
            self.docs.mkdir(parents=True, exist_ok=True)
            await page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
            await page.screenshot(path=str(self.docs / f"{readme}.png"), full_page=False)
        return path


async def sign_in(page, base_url: str, key: str) -> None:
    """Sign in to a console as a person does: the key typed into the form, sent with the keyboard."""
    await page.goto(f"{base_url}/console/")
    await page.wait_for_url(re.compile(r"/console/sign-in"))
    field = page.locator("#f-key")
    await field.focus()
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/(\?.*)?$"))


async def reload_until(page, locator, *, timeout: float = 60.0, interval: float = 0.25) -> None:
    """Reload ``page`` until ``locator`` shows: what the events bring appears only on a page loaded after it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await locator.count() > 0:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{locator} not shown within {timeout}s on {page.url}")
        await asyncio.sleep(interval)  # polling a page for an event's effect: there is nothing to await
        await page.reload()


async def serious_violations(page) -> list[str]:
    """The axe-core violations of impact serious or critical on ``page`` (each named with its first targets)."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes'][:3]]}"
        for violation in results.response["violations"]
        if violation.get("impact") in SERIOUS
    ]


async def fits_at_200_percent(page) -> bool:
    """Whether ``page`` reads without horizontal scrolling at 200 % zoom of a 1280-pixel window (640 CSS pixels)."""
    size = page.viewport_size
    await page.set_viewport_size({"width": 640, "height": 800})
    try:
        return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        await page.set_viewport_size(size)
