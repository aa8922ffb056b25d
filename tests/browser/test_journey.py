"""The journey between tabs in the standalone app, in headless Chromium.

A folder typed once follows the user (Dataset → Captions → Train); while a long job runs (a dataset check),
the other tabs answer within a second, also from a second browser tab; "Use in Train" hands the schedule
over; the Emphasis tab edits the prompt box being edited, also with emoji in it; an embedding goes into the
prompt in one click. Selectors are elem_ids only (other engineers change the tabs' layouts).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from browser_support import browser_page, open_tab, require_chromium, shot, standalone_server

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "tests" / "data" / "photos"


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    require_chromium()
    import torch

    from lib_ti.model.embeddings import Embedding, save_embedding

    data = tmp_path_factory.mktemp("tilab-data")
    save_embedding(Embedding("myface", torch.randn(1, 768)), data / "embeddings" / "myface.pt")
    photos = tmp_path_factory.mktemp("photos") / "face"
    shutil.copytree(next(p for p in sorted(PHOTOS.iterdir()) if p.is_dir()), photos)
    with standalone_server(data) as url:
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector("#txt2img_prompt .tilab-preset-select", timeout=60000)
            yield page, url, photos


def journey_set() -> Path:
    """Every test photo in one folder (26 images): a check long enough to time other tabs against."""
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="tilab-all-photos-"))
    for sub in sorted(p for p in PHOTOS.iterdir() if p.is_dir()):
        for img in sorted(sub.glob("*.jpg")):
            shutil.copy(img, out / f"{sub.name}-{img.name}")
    return out


def _value(page, selector: str) -> str:
    return page.evaluate(f"() => document.querySelector({selector!r}).value")


def _answer_time(page, selector: str, value: str, condition: str) -> float:
    """Seconds from typing ``value`` into ``selector`` until the JS ``condition`` holds."""
    box = page.locator(selector)
    t0 = time.perf_counter()
    box.fill(value)
    box.dispatch_event("input")
    page.wait_for_function(condition, timeout=30000)
    return time.perf_counter() - t0


def test_folder_typed_once_follows_to_captions_and_train(journey):
    page, _url, photos = journey
    open_tab(page, "Dataset")
    box = page.locator("#tilab_dataset_folder textarea")
    box.fill(str(photos))
    box.press("Tab")  # leaving the box hands the folder over
    page.wait_for_function(
        f"document.querySelector('#tilab_train_data textarea').value === {str(photos)!r}", timeout=10000)
    assert _value(page, "#tilab_captions_folder input") == str(photos)


#: JS: the Dataset tab's check is still going (gradio shows its progress over the status element)
RUNNING_JS = ("[...document.querySelectorAll('#tilab_dataset_status .wrap')]"
              ".some(w => !w.classList.contains('hide') && w.innerText.trim() !== '')")


def _dataset_running(page) -> bool:
    return page.evaluate(f"() => ({RUNNING_JS})")


def check_responsiveness(page, url: str, folder: Path) -> dict:
    """Start a dataset check on ``folder``; while it runs, edit in the Emphasis tab (same page) and lint a schedule
    in a second browser tab; then Stop it. Returns the seconds each took and whether each answer came while the
    check was still running (before the fix, they came only after it: gradio's one queue worker was taken)."""
    open_tab(page, "Dataset")
    box = page.locator("#tilab_dataset_folder textarea")
    box.fill(str(folder))
    box.dispatch_event("input")
    page.click("#tilab_dataset_run")
    page.wait_for_function(f"() => ({RUNNING_JS})", timeout=30000)
    open_tab(page, "Emphasis")
    emphasis = _answer_time(page, "#tilab_emphasis_prompt textarea", "a (dog:1.5) photo",
                            "document.querySelector('#tilab_emphasis_segments').innerText.includes('1.5')")
    emphasis_during = _dataset_running(page)
    second = page.context.browser.new_page(viewport={"width": 1300, "height": 1000})
    second.goto(url)
    second.wait_for_selector("#tilab_schedule_text textarea", state="attached", timeout=60000)
    open_tab(second, "Schedule")
    schedule = _answer_time(second, "#tilab_schedule_text textarea", "0.01:100,0.001:50,0.0001",
                            "document.querySelector('#tilab_schedule_status').innerText.includes('one update')")
    second.close()
    schedule_during = _dataset_running(page)
    open_tab(page, "Dataset")
    stop_during = _dataset_running(page)
    t0 = time.perf_counter()
    page.click("#tilab_dataset_stop")
    page.wait_for_function(f"() => !({RUNNING_JS})", timeout=120000)
    figures = {"emphasis_s": emphasis, "emphasis_during": emphasis_during, "schedule_s": schedule,
               "schedule_during": schedule_during, "stop_s": time.perf_counter() - t0, "stop_during": stop_during,
               "status": page.locator("#tilab_dataset_status").first.inner_text()}
    print("while a dataset check ran:", {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()})
    return figures


def test_other_tabs_answer_while_a_check_runs_and_stop_stops_it(journey):
    """Ordering, not wall-clock: each answer arrives while the check still runs, and Stop ends it early.

    The seconds are printed (``-s``); on a quiet machine they are well under one (see the report)."""
    page, url, _photos = journey
    figures = check_responsiveness(page, url, journey_set())
    shot(page, "journey-check-stopped.png")
    assert figures["emphasis_during"] and figures["schedule_during"] and figures["stop_during"]
    assert "stopped early" in figures["status"]


def test_use_in_train_hands_the_schedule_over(journey):
    page, *_ = journey
    open_tab(page, "Schedule")
    box = page.locator("#tilab_schedule_text textarea")
    box.fill("0.02:200, 0.005")
    box.dispatch_event("input")
    page.click("#tilab_schedule_use_in_train")
    page.wait_for_function(
        "document.querySelector('#tilab_train_learn_rate textarea').value === '0.02:200, 0.005'", timeout=10000)
    page.wait_for_selector("#tilab_train_start", state="visible", timeout=10000)  # the Train tab is open
    shot(page, "journey-use-in-train.png")


def test_emphasis_tab_and_prompt_box_are_one_and_emoji_offsets_hold(journey):
    page, *_ = journey
    open_tab(page, "Emphasis")
    box = page.locator("#txt2img_prompt textarea")
    box.fill("🔥 cat, dog")
    box.dispatch_event("input")
    page.wait_for_function(
        "document.querySelector('#tilab_emphasis_prompt textarea').value === '🔥 cat, dog'", timeout=10000)
    # select "dog": UTF-16 offsets 8..11 (the emoji is two code units), code points 7..10
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea'); t.focus();"
                  " t.setSelectionRange(8, 11); }")
    page.select_option("#txt2img_prompt .tilab-preset-select", "0.62")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === '🔥 cat, (dog:0.62)'", timeout=10000)
    sel = page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea');"
                        " return t.value.slice(t.selectionStart, t.selectionEnd); }")
    assert sel == "(dog:0.62)"  # the offsets coming back are converted too
    # Alt+E on "cat" says which weight it used
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea'); t.focus();"
                  " t.setSelectionRange(4, 4); }")
    page.keyboard.press("Alt+e")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === '🔥 (cat:0.62), (dog:0.62)'", timeout=10000)
    note = page.locator("#txt2img_prompt .tilab-preset-note").inner_text()
    assert "×0.62" in note and "last chosen" in note
    page.wait_for_function(
        "document.querySelector('#tilab_emphasis_prompt textarea').value === '🔥 (cat:0.62), (dog:0.62)'",
        timeout=10000)
    inv = page.locator("#tilab_emphasis_inv_weight input")
    inv.fill("2.59")
    inv.dispatch_event("input")
    page.wait_for_selector("#tilab_emphasis_inverse .tilab-flag-overflow", timeout=10000)
    assert "outside 0..2" in page.locator("#tilab_emphasis_inverse").first.inner_text()
    shot(page, "journey-emphasis-emoji.png")
    assert page.errors == []


def test_one_click_puts_the_embedding_into_the_prompt(journey):
    page, *_ = journey
    open_tab(page, "Emphasis")
    page.wait_for_function(
        "document.querySelector('#tilab_emphasis_embedding input').value === 'myface'", timeout=10000)
    weight = page.locator("#tilab_emphasis_embedding_weight input")
    weight.fill("0.7")
    weight.dispatch_event("input")
    before = _value(page, "#txt2img_prompt textarea")
    page.click("#tilab_emphasis_embedding_put")
    page.wait_for_function(
        f"document.querySelector('#txt2img_prompt textarea').value === {before + ', (myface:0.7)'!r}",
        timeout=10000)
    shot(page, "journey-embedding-in-prompt.png")
