"""Run the standalone app and drive it with headless Chromium (Debian's package, via Playwright)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Test runs write their screenshots under out/ (ignored by git), so running the suite never edits tracked files;
# refresh the README's pictures with TILAB_SCREENSHOTS=docs/screenshots.
SCREENSHOTS = Path(os.environ.get("TILAB_SCREENSHOTS", REPO / "out" / "screenshots"))


def require_chromium() -> None:
    """Skip locally without Chromium; in CI (CI=true) its absence is a failure, not a skip."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/setup installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def standalone_server(data_dir: Path, extra_args: Optional[list[str]] = None) -> Iterator[str]:
    """``python -m lib_ti serve`` on a free port; yields its URL, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "TILAB_DATA": str(data_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(data_dir / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lib_ti", "serve", "--port", str(port), *(extra_args or [])],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read(100)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("standalone app did not start:\n" + (data_dir / "serve.log").read_text())
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser_page(width: int = 1300, height: int = 1000):
    """A Playwright page in headless Chromium; console errors collected on ``page.errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        try:
            yield page
        finally:
            browser.close()


def open_tab(page, title: str) -> None:
    """Click a TI Lab sub-tab by its title (gradio 3 renders tabs as plain buttons)."""
    page.locator("#tilab_tabs > .tab-nav button, #tilab_tabs [role=tab]", has_text=title).first.click()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
