"""The dashboard in a real headless browser: Debian's chromium driven by playwright.

scripts/test.sh installs chromium when /usr/bin/chromium is missing; without it these
tests fail (never skip): a dashboard nobody opened in a browser is not tested.
Set DASHBOARD_PNG=docs/dashboard.png to keep the screenshot (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servesupport import reference_repo, serving
from support import artifactctl

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECTIONS = ("champions", "experiments", "history", "promotion-test")
KEEP_PNG = os.environ.get("DASHBOARD_PNG")  # read at import: conftest trims the environment


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium "
            "(scripts/test.sh installs it: apt-get install -y chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('playwright is missing: pip install -e ".[dev]"')
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def history_repo(built_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Promotions, a forced one, a rollback: champion v2-002, previous v2-006."""
    repo = reference_repo(built_pipeline, tmp_path_factory.mktemp("dash"), ("v2-006",))
    for args in (
        ("promote", "v2-001", "--force", "--reason", "audit: the baseline in production"),
        ("rollback", "--reason", "the baseline is worse, as expected"),
        ("promote", "v2-002"),
    ):
        proc = artifactctl(repo, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo


class Visit:
    """One page load: the console errors, page errors and every request it made."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.response = self.page.goto(url, wait_until="load")

    def check_sections(self, champion: str) -> None:
        page = self.page
        assert page.locator("#champion-id").inner_text() == champion
        for section in SECTIONS:
            charts = page.locator(f"section#{section} svg.chart")
            assert charts.count() == 1, section
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 30, section
        assert page.locator("section#champions .card.champion .id").inner_text() == champion
        assert page.locator("section#champions .card.previous .id").inner_text() == "v2-006"
        rows = page.locator("section#experiments tbody tr")
        assert rows.count() == 3
        timeline = page.locator("section#history svg.chart")
        assert timeline.locator(".m-forced").count() == 1  # the forced promotion
        assert timeline.locator(".m-rollback").count() == 1
        assert timeline.locator(".m-promote").count() == 2
        test = page.locator("section#promotion-test").inner_text()
        assert "95% CI" in test and "v2-002" in test and "v2-006" in test
        assert page.locator("section#promotion-test svg .threshold").count() >= 1


def test_dashboard_loads_without_errors_and_shows_every_section(
    browser: Any, history_repo: Path, tmp_path: Path
) -> None:
    with serving(history_repo, tmp_path / "server.log") as server:
        visit = Visit(browser, server.url)
        assert visit.response is not None and visit.response.status == 200
        visit.check_sections("v2-002")
        assert visit.errors == []
        assert all(u.startswith(server.url) or u.startswith("data:") for u in visit.requests)
        shot = tmp_path / "dashboard.png"
        visit.page.screenshot(path=str(shot), full_page=True)
        visit.page.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if KEEP_PNG:
        shutil.copyfile(shot, KEEP_PNG)


def test_dashboard_with_a_token_is_refused_without_it(
    browser: Any, history_repo: Path, tmp_path: Path
) -> None:
    with serving(history_repo, tmp_path / "server.log", "--token", "t0ken") as server:
        page = browser.new_page()
        assert page.goto(server.url).status == 401
        page.set_extra_http_headers({"Authorization": "Bearer t0ken"})
        assert page.goto(server.url).status == 200
        assert page.locator("#champion-id").inner_text() == "v2-002"
        page.close()


def test_report_is_the_same_page_as_one_static_file(
    browser: Any, history_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    proc = artifactctl(history_repo, "report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    visit = Visit(browser, out.as_uri())
    visit.check_sections("v2-002")
    assert visit.errors == []
    assert visit.requests == [out.as_uri()]  # nothing else is loaded
    visit.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    visit.page.close()


def test_dashboard_switches_between_the_families_of_one_server(
    browser: Any, tmp_path: Path
) -> None:
    from layouts import families

    repo = families(tmp_path / "repo")
    promoted = artifactctl(repo, "promote", "s-02", "--against", "s-01", "--registry", "scorer")
    assert promoted.returncode == 0, promoted.stderr
    with serving(repo, tmp_path / "server.log") as server:
        page = browser.new_page()
        assert page.goto(server.url).status == 200
        nav = page.locator("nav#registries")
        assert nav.locator("[aria-current=page]").inner_text() == "ranker"
        assert page.locator("#champion-id").inner_text() == "no champion yet"
        nav.get_by_role("link", name="scorer").click()
        page.wait_for_url("**/?registry=scorer")
        assert page.locator("nav#registries [aria-current=page]").inner_text() == "scorer"
        assert page.locator("#champion-id").inner_text() == "s-02"
        rows = page.locator("section#experiments").inner_text()
        assert "s-01" in rows and "r-001" not in rows
        page.close()
