"""The whole journey of issue 13 in the standalone app, in ONE headless Chromium page, in the order a user works:

check a folder → set a duplicate aside → caption → schedule → "Use in Train" → train a tiny model (every problem
of the form at once, labelled prompt × step previews) → other tabs answer while it trains → the reloaded page finds
the run → Stop → an exact resume that raises max steps (said before it starts) → a strength sweep over the run's
checkpoints → the embedding into the prompt. The dataset folder is typed once (``typed_paths``); every other tab
finds it. Then the Emphasis tab's emoji offsets and the other tabs' answers while a long dataset check runs (also
from a second browser tab). This file replaces the Train tab's own browser test (one server, one training run).

Tests run in file order on the module's page (each continues where the previous one left off). Selectors are
elem_ids only (other engineers change the tabs' layouts). Kept short in wall time: tiny model, 64 px, a few steps.
"""

from __future__ import annotations

import shutil
import statistics
import time

import pytest

from browser.journey_support import (PHOTOS, answer_time, caption_first_photo, check_responsiveness, fill,
                                     journey_set, small_shot, train_status, type_dataset_folder, value_of,
                                     wait_train_status)
from browser_support import browser_page, open_tab, require_chromium, standalone_server

NAME = "myface"


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    require_chromium()
    from sdkit import write_tiny_checkpoint

    data = tmp_path_factory.mktemp("tilab-data")
    write_tiny_checkpoint(data / "models" / "tiny.safetensors", workdir=tmp_path_factory.mktemp("tiny-sd"))
    photos = tmp_path_factory.mktemp("photos") / "face"
    shutil.copytree(next(p for p in sorted(PHOTOS.iterdir()) if p.is_dir()), photos)
    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy(first, photos / f"zz-copy-of-{first.name}")  # the duplicate the check finds and the user sets aside
    with standalone_server(data) as url:
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector("#txt2img_prompt .tilab-preset-select", timeout=60000)
            yield {"page": page, "url": url, "photos": photos, "data": data, "typed_paths": [], "figures": {}}


def test_check_then_set_a_duplicate_aside_and_the_folder_follows(journey):
    page, photos = journey["page"], journey["photos"]
    type_dataset_folder(page, photos, journey["typed_paths"])  # the only path the user types in the whole journey
    page.fill("#tilab_dataset_size input", "64")
    page.click("#tilab_dataset_run")
    page.wait_for_function("document.querySelector('#tilab_dataset_status').innerText.includes('Checked ')",
                           timeout=120000)
    page.wait_for_selector("#tilab_dataset_exclude", state="visible", timeout=20000)
    ticked = page.locator("#tilab_dataset_copies input:checked")
    assert ticked.count() == 1  # every copy but one per group, ticked
    page.click("#tilab_dataset_set_aside")
    page.wait_for_function("document.querySelector('#tilab_dataset_exclude_status').innerText.includes('Set aside 1')",
                           timeout=20000)
    assert len(list((photos / "_excluded").iterdir())) == 1
    # Stop after the check has finished keeps its line (it names the report) instead of "Nothing is running."
    checked = page.locator("#tilab_dataset_status").first.inner_text()
    page.click("#tilab_dataset_stop")
    page.wait_for_function("document.querySelector('#tilab_dataset_status').innerText.includes('nothing to stop')",
                           timeout=10000)
    assert checked.strip() in page.locator("#tilab_dataset_status").first.inner_text()
    small_shot(page, "journey-check-set-aside.png")
    # the checked folder is offered again (recent folders) and followed the user: Captions and Train have it, untyped
    from lib_ti.ui.workspace import recent_folders

    assert recent_folders(journey["data"])[0] == str(photos)
    assert value_of(page, "#tilab_captions_folder input") == str(photos)
    assert value_of(page, "#tilab_train_data input") == str(photos)
    # the Train tab's folder is a dropdown of the same recent folders: the checked one is offered there
    open_tab(page, "Train")
    page.locator("#tilab_train_data input").first.click()
    page.wait_for_selector(f"#tilab_train_data ul.options li:has-text('{photos}')", timeout=10000)
    small_shot(page, "journey-train-recent-folders.png")
    page.locator("#tilab_train_data input").first.press("Escape")
    page.locator("#tilab_train_data input").first.blur()
    assert value_of(page, "#tilab_train_data input") == str(photos)


def test_caption_the_photos_in_the_captions_tab(journey):
    sidecar = caption_first_photo(journey["page"], journey["photos"], "a photo of a face, smiling, indoors")
    assert sidecar.read_text("utf-8").strip() == "a photo of a face, smiling, indoors"


def test_schedule_goes_to_train_with_use_in_train(journey):
    page = journey["page"]
    open_tab(page, "Schedule")
    box = page.locator("#tilab_schedule_text textarea")
    box.fill("0.02:200, 0.005")
    box.dispatch_event("input")
    page.fill("#tilab_schedule_max input", "2000")
    page.click("#tilab_schedule_use_in_train")
    page.wait_for_function(
        "document.querySelector('#tilab_train_learn_rate textarea').value === '0.02:200, 0.005'", timeout=10000)
    page.wait_for_selector("#tilab_train_start", state="visible", timeout=10000)  # the Train tab is open
    assert value_of(page, "#tilab_train_steps input") == "2000"
    small_shot(page, "journey-use-in-train.png")


def test_train_answer_elsewhere_while_it_runs_reattach_stop_and_resume_exactly(journey):
    page, figures = journey["page"], journey["figures"]
    # the listed checkpoint is preselected and the folder and schedule are in the form: one problem left, said at once
    page.click("#tilab_train_check")
    page.wait_for_selector("#tilab_train_problems", timeout=20000)
    problems = page.locator("#tilab_train_problems").inner_text()
    assert "Embedding name" in problems and "Dataset folder" not in problems, problems
    small_shot(page, "train-problems.png")
    fill(page, "tilab_train_name", NAME)
    for elem, value in (("tilab_train_save_every", "0"), ("tilab_train_preview_every", "3")):
        fill(page, elem, value)
    page.click("#tilab_train_preview_acc")
    fill(page, "tilab_train_preview_prompts", "a photo of [name]\na drawing of [name]")
    fill(page, "tilab_train_preview_steps", "2")
    page.locator("#tilab_train_width input[type=number]").fill("64")
    page.locator("#tilab_train_height input[type=number]").fill("64")
    page.locator("#tilab_train_height input[type=number]").press("Tab")
    page.click("#tilab_train_check")
    page.wait_for_function(
        f"document.querySelector('#tilab_train_plan_box').innerText.includes(\"New embedding '{NAME}'\")",
        timeout=20000)
    page.click("#tilab_train_start")
    wait_train_status(page, r"Step \d+/2000")
    assert "s/step" in wait_train_status(page, "ETA").string

    # while it trains: the Emphasis tab and the Schedule tab answer (before the run ends: it is stopped later)
    open_tab(page, "Emphasis")
    figures["emphasis_s"] = answer_time(page, "#tilab_emphasis_prompt textarea", "a (dog:1.5) photo",
                                        "document.querySelector('#tilab_emphasis_segments').innerText.includes('1.5')")
    open_tab(page, "Schedule")
    # several answers (status, table and plot come back in one response; the plot is waited for): median under 1 s
    times = [answer_time(page, "#tilab_schedule_text textarea", f"0.01:100,0.001:{150 + k}",
                         f"document.querySelector('#tilab_schedule_plot svg')?.textContent"
                         f".includes('training ends: {150 + k} updates')") for k in range(7)]
    figures["schedule_median_s"], figures["schedule_max_s"] = statistics.median(times), max(times)
    assert figures["schedule_median_s"] < 1.0, times
    open_tab(page, "Train")
    running = wait_train_status(page, r"Step (\d+)/2000")

    # a reloaded page knows nothing but the server's registry: it shows the live run and its labelled previews
    page.reload()
    page.wait_for_selector("#tilab_tabs", timeout=60000)
    open_tab(page, "Train")
    wait_train_status(page, r"Step \d+/2000")
    page.wait_for_function("document.querySelectorAll('#tilab_train_gallery img').length >= 4", timeout=120000)
    captions = page.locator("#tilab_train_gallery .caption-label, #tilab_train_gallery figcaption").all_inner_texts()
    assert captions[:2] == [f"step 3 · a photo of {NAME}", f"step 3 · a drawing of {NAME}"], captions
    t0 = time.perf_counter()
    page.click("#tilab_train_stop")
    stopped = wait_train_status(page, r"Interrupted at step (\d+)\.")
    figures["stop_s"] = time.perf_counter() - t0
    stopped_at = int(stopped.group(1))
    assert "resume from" in train_status(page)
    assert int(running.group(1)) <= stopped_at < 2000  # the answers came while it still ran
    figures["stopped_at"] = stopped_at
    # the loss and norm charts (inline SVG) reached the page: a line each, with their titles
    page.wait_for_selector("#tilab_train_loss_plot svg polyline", timeout=20000)
    assert page.locator("#tilab_train_norm_plot svg polyline").count() == 1
    assert "Loss" in page.locator("#tilab_train_loss_plot svg").first.text_content()
    print("while training ran:", {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()})
    small_shot(page, "journey-train-stopped.png")

    # an exact resume that also raises max steps, said before anything starts; the reloaded form takes the run's
    # settings (the folder among them: still typed only once)
    fill(page, "tilab_train_name", NAME)
    page.click("#tilab_train_load_run")
    page.wait_for_function("document.querySelector('#tilab_train_steps input').value === '2000'", timeout=20000)
    assert value_of(page, "#tilab_train_data input") == str(journey["photos"])
    page.locator("#tilab_train_mode label", has_text="resume").click()
    fill(page, "tilab_train_steps", "2500")
    page.click("#tilab_train_check")
    page.wait_for_function("document.querySelector('#tilab_train_plan_box').innerText.includes('Resume run')",
                           timeout=20000)
    plan = page.locator("#tilab_train_plan_box").last.inner_text()
    assert (f"exactly from step {stopped_at}" in plan and "max steps 2000 → 2500" in plan
            and "needs the run's settings" not in plan), plan
    small_shot(page, "train-resume-plan.png")
    page.click("#tilab_train_start")
    resumed = wait_train_status(page, r"Step (\d+)/2500")
    assert int(resumed.group(1)) > stopped_at
    page.click("#tilab_train_stop")
    again = wait_train_status(page, r"Interrupted at step (\d+)\.")
    journey["checkpoints"] = [f"{NAME}-{stopped_at}.pt", f"{NAME}-{again.group(1)}.pt"]
    small_shot(page, "journey-train-resumed.png")


def test_sweep_the_run_without_typing_its_folder(journey):
    page = journey["page"]
    page.click("#tilab_train_sweep_acc")
    page.click("#tilab_train_sweep_refresh")  # the embedding was written after this page was built
    page.locator("#tilab_train_sweep_name input").first.click()
    page.locator("ul.options li", has_text=NAME).first.click()
    page.wait_for_function("document.querySelectorAll('#tilab_train_sweep_cks input:checked').length >= 2",
                           timeout=20000)
    fill(page, "tilab_train_sweep_weights", "0.5, 1")
    fill(page, "tilab_train_sweep_steps", "2")
    page.click("#tilab_train_sweep_btn")
    page.wait_for_function(
        "document.querySelector('#tilab_train_sweep_out').innerText.includes('grid saved')", timeout=120000)
    line = page.locator("#tilab_train_sweep_out").last.inner_text()
    assert "4 images from 2 of 2 checkpoints" in line and all(c in line for c in journey["checkpoints"]), line
    page.wait_for_selector("#tilab_train_sweep_img img", timeout=20000)
    small_shot(page, "journey-sweep.png")


def test_one_click_puts_the_trained_embedding_into_the_prompt(journey):
    page = journey["page"]
    open_tab(page, "Emphasis")  # the list refreshes when the tab opens: the newest (just trained) first
    page.wait_for_function(
        f"document.querySelector('#tilab_emphasis_embedding input').value === {NAME!r}", timeout=10000)
    weight = page.locator("#tilab_emphasis_embedding_weight input")
    weight.fill("0.7")
    weight.dispatch_event("input")
    before = value_of(page, "#txt2img_prompt textarea")
    page.click("#tilab_emphasis_embedding_put")
    page.wait_for_function(
        f"document.querySelector('#txt2img_prompt textarea').value === {before + f', ({NAME}:0.7)'!r}",
        timeout=10000)
    small_shot(page, "journey-embedding-in-prompt.png")
    # the whole journey typed one path, once
    assert journey["typed_paths"] == [str(journey["photos"])]
    assert page.errors == []


def test_emphasis_tab_and_prompt_box_are_one_and_emoji_offsets_hold(journey):
    page = journey["page"]
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
    small_shot(page, "journey-emphasis-emoji.png")
    assert page.errors == []


def test_other_tabs_answer_while_a_check_runs_and_stop_stops_it(journey):
    """Last: it checks another (larger) folder. Ordering, not wall-clock: each answer arrives while the check
    still runs, and Stop ends it early. The seconds are printed (``-s``)."""
    page, url = journey["page"], journey["url"]
    figures = check_responsiveness(page, url, journey_set())
    small_shot(page, "journey-check-stopped.png")
    assert figures["emphasis_during"] and figures["schedule_during"] and figures["stop_during"]
    assert "stopped early" in figures["status"]
