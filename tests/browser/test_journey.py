"""The journey between tabs in the standalone app, in headless Chromium.

A folder typed once follows the user (Dataset → Captions → Train); while a long job runs (a dataset check),
the other tabs answer within a second, also from a second browser tab; "Use in Train" hands the schedule
over; the Emphasis tab edits the prompt box being edited, also with emoji in it; an embedding goes into the
prompt in one click. Selectors are elem_ids only (other engineers change the tabs' layouts).
"""

from __future__ import annotations

import shutil

import pytest

from browser.journey_support import PHOTOS, check_responsiveness, journey_set, value_of
from browser_support import browser_page, open_tab, require_chromium, shot, standalone_server


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


def test_folder_typed_once_follows_to_captions_and_train(journey):
    page, _url, photos = journey
    open_tab(page, "Dataset")
    box = page.locator("#tilab_dataset_folder textarea")
    box.fill(str(photos))
    box.press("Tab")  # leaving the box hands the folder over
    page.wait_for_function(
        f"document.querySelector('#tilab_train_data textarea').value === {str(photos)!r}", timeout=10000)
    assert value_of(page, "#tilab_captions_folder input") == str(photos)


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
    before = value_of(page, "#txt2img_prompt textarea")
    page.click("#tilab_emphasis_embedding_put")
    page.wait_for_function(
        f"document.querySelector('#txt2img_prompt textarea').value === {before + ', (myface:0.7)'!r}",
        timeout=10000)
    shot(page, "journey-embedding-in-prompt.png")
