"""Helpers shared by the journey tests (standalone app and the host emulation): the photo set and the
responsiveness check. Selectors are elem_ids only."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from browser_support import open_tab, shot

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "tests" / "data" / "photos"


def small_shot(page, name: str) -> Path:
    """A full-page screenshot, palette-quantised (256 colours) so the README's journey images stay small."""
    from PIL import Image

    path = shot(page, name)
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


def journey_set(copies: int = 3) -> Path:
    """Every test photo in one folder, ``copies`` times (78 images): a check long enough to time other tabs
    against on a busy 2-core machine (the copies are exact duplicates; the check lists them, which is fine)."""
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="tilab-all-photos-"))
    for sub in sorted(p for p in PHOTOS.iterdir() if p.is_dir()):
        for img in sorted(sub.glob("*.jpg")):
            for k in range(copies):
                shutil.copy(img, out / f"{sub.name}-{k}-{img.name}")
    return out


def value_of(page, selector: str) -> str:
    return page.evaluate(f"() => document.querySelector({selector!r}).value")


def type_dataset_folder(page, folder: Path, typed: list) -> None:
    """Type ``folder`` into the Dataset tab and commit it (Enter hands it to the other tabs); ``typed`` records
    every path the user types, so a journey can assert that none was typed twice."""
    open_tab(page, "Dataset")
    box = page.locator("#tilab_dataset_folder input")
    box.fill(str(folder))
    typed.append(str(folder))
    box.press("Enter")


def caption_first_photo(page, photos: Path, text: str) -> Path:
    """In the Captions tab (its folder already handed over): load, type ``text`` for the first photo and move on,
    which saves it; the sidecar ``.txt``, once written."""
    open_tab(page, "Captions")
    page.click("#tilab_captions_load")
    page.wait_for_function("document.querySelector('#tilab_captions_status').innerText.includes('images')",
                           timeout=30000)
    first = sorted(photos.glob("*.jpg"))[0]
    page.wait_for_selector(f"#tilab_captions_name :text('{first.name}')", timeout=15000)
    page.fill("#tilab_captions_editor textarea", text)
    page.click("#tilab_captions_next")  # saved before moving
    sidecar = first.with_suffix(".txt")
    deadline = time.monotonic() + 15
    while not sidecar.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return sidecar


def answer_time(page, selector: str, value: str, condition: str) -> float:
    """Seconds from typing ``value`` into ``selector`` until the JS ``condition`` holds."""
    box = page.locator(selector)
    t0 = time.perf_counter()
    box.fill(value)
    box.dispatch_event("input")
    page.wait_for_function(condition, timeout=30000)
    return time.perf_counter() - t0


#: JS: the Dataset tab's check is still going (gradio shows its progress over the status element)
#: (an "Error" badge is not running: the check failed, and the test's assertions say so)
RUNNING_JS = ("[...document.querySelectorAll('#tilab_dataset_status .wrap')]"
              ".some(w => !w.classList.contains('hide') && w.innerText.trim() !== '' && !w.querySelector('.error'))")


def _dataset_running(page) -> bool:
    return page.evaluate(f"() => ({RUNNING_JS})")


def check_responsiveness(page, url: str, folder: Path, enter=lambda page: None) -> dict:
    """Start a dataset check on ``folder``; while it runs, edit in the Emphasis tab (same page) and lint a schedule
    in a second browser tab; then Stop it. Returns the seconds each took and whether each answer came while the
    check was still running (before the fix, they came only after it: gradio's one queue worker was taken).
    ``enter(page)`` opens TI Lab on a fresh page (inside the host: its top-level tab)."""
    enter(page)
    open_tab(page, "Dataset")
    box = page.locator("#tilab_dataset_folder input")  # a dropdown of recent folders that takes typing
    box.fill(str(folder))
    box.press("Enter")
    page.click("#tilab_dataset_run")
    page.wait_for_function(f"() => ({RUNNING_JS})", timeout=30000)
    open_tab(page, "Emphasis")
    emphasis = answer_time(page, "#tilab_emphasis_prompt textarea", "a (dog:1.5) photo",
                            "document.querySelector('#tilab_emphasis_segments').innerText.includes('1.5')")
    emphasis_during = _dataset_running(page)
    second = page.context.browser.new_page(viewport={"width": 1300, "height": 1000})
    second.goto(url)
    second.wait_for_selector("#tilab_schedule_text textarea", state="attached", timeout=60000)
    enter(second)
    open_tab(second, "Schedule")
    # the page's own start-up analysis comes first (typed too early, it would be overwritten by it)
    second.wait_for_function("document.querySelector('#tilab_schedule_status').innerText.includes('updates')",
                             timeout=120000)
    schedule = answer_time(second, "#tilab_schedule_text textarea", "0.01:100,0.001:50,0.0001",
                            "document.querySelector('#tilab_schedule_status').innerText.includes('one update')")
    second.close()
    schedule_during = _dataset_running(page)
    open_tab(page, "Dataset")
    stop_during = _dataset_running(page)
    t0 = time.perf_counter()
    page.click("#tilab_dataset_stop")
    try:
        page.wait_for_function(f"() => !({RUNNING_JS})", timeout=120000)
    except Exception:
        shot(page, "journey-stop-timeout.png")  # what the page showed, for the failure report
        raise
    figures = {"emphasis_s": emphasis, "emphasis_during": emphasis_during, "schedule_s": schedule,
               "schedule_during": schedule_during, "stop_s": time.perf_counter() - t0, "stop_during": stop_during,
               "status": page.locator("#tilab_dataset_status").first.inner_text()}
    print("while a dataset check ran:", {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()})
    return figures


def fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def train_status(page) -> str:
    return page.locator("#tilab_train_status").last.inner_text()


def wait_train_status(page, pattern: str, timeout: float = 120.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, train_status(page))
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"Train status never matched {pattern!r}; last: {train_status(page)!r}")
