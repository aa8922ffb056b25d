"""The Train tab in headless Chromium (standalone app): a listed checkpoint, the whole form checked at once,
a run that a reloaded page reattaches to, Stop with the resume path, an exact resume that extends max steps.

Selectors are elem_ids only. Screenshots go to docs/screenshots (look at them when the tab changes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from browser_support import browser_page, open_tab, require_chromium, shot, standalone_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_workdir):
    require_chromium()
    from sdkit import write_tiny_checkpoint

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_images  # tests/training/conftest.py

    data = tmp_path_factory.mktemp("tilab-data")
    write_tiny_checkpoint(data / "models" / "tiny.safetensors", workdir=tiny_workdir)
    photos = write_images(tmp_path_factory.mktemp("photos") / "set", n=3, size=(80, 72))
    with standalone_server(data) as url:
        yield url, photos


def fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def status(page) -> str:
    return page.locator("#tilab_train_status").last.inner_text()


def wait_status(page, text: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(page)
        if text in current:
            return current
        time.sleep(0.3)
    raise AssertionError(f"status never showed {text!r}; last: {status(page)!r}")


def test_train_tab_checks_up_front_reattaches_after_reload_and_resumes(server):
    url, photos = server
    with browser_page() as page:
        page.goto(url)
        open_tab(page, "Train")
        page.wait_for_selector("#tilab_train_start", state="visible", timeout=60000)
        # nothing filled in: every problem at once (the first listed checkpoint is preselected)
        page.click("#tilab_train_check")
        page.wait_for_selector("#tilab_train_problems", timeout=20000)
        problems = page.locator("#tilab_train_problems").inner_text()
        for part in ("Embedding name", "Dataset folder is empty"):
            assert part in problems
        shot(page, "train-problems.png")

        # the checkpoint comes from a list, not a typed path
        page.locator("#tilab_train_model input").first.click()
        page.locator("ul.options li", has_text="tiny.safetensors").first.click()
        fill(page, "tilab_train_name", "zork")
        fill(page, "tilab_train_data", str(photos))
        for elem, value in (("tilab_train_steps", "100000"), ("tilab_train_save_every", "0"),
                            ("tilab_train_preview_every", "3")):
            fill(page, elem, value)
        page.click("#tilab_train_preview_acc")
        fill(page, "tilab_train_preview_prompts", "a photo of [name]\na drawing of [name]")
        fill(page, "tilab_train_preview_steps", "2")
        page.locator("#tilab_train_width input[type=number]").fill("64")
        page.locator("#tilab_train_height input[type=number]").fill("64")
        page.locator("#tilab_train_height input[type=number]").press("Tab")
        page.click("#tilab_train_check")
        page.wait_for_selector("#tilab_train_plan", timeout=20000)
        shot(page, "train-plan.png")
        plan = page.locator("#tilab_train_plan_box").last.inner_text()
        assert "New embedding 'zork' from step 0" in plan, plan

        page.click("#tilab_train_start")
        line = wait_status(page, "Step ")
        assert "s/step" in wait_status(page, "ETA")
        shot(page, "train-running.png")

        # a reloaded page knows nothing but the registry: it shows the live run
        page.reload()
        open_tab(page, "Train")
        wait_status(page, "Step ")
        assert page.locator("#tilab_train_loss_plot img").count() >= 1
        page.wait_for_function("document.querySelectorAll('#tilab_train_gallery img').length >= 4", timeout=120000)
        captions = page.locator("#tilab_train_gallery .caption-label, #tilab_train_gallery figcaption").all_inner_texts()
        assert captions[:2] == ["step 3 · a photo of zork", "step 3 · a drawing of zork"], captions
        page.click("#tilab_train_stop")
        final = wait_status(page, "resume from")
        assert "Interrupted at step" in final
        shot(page, "train-stopped-after-reload.png")
        stopped_at = int(final.split("Interrupted at step ")[1].split(".")[0])

        # what an exact resume will do is said before anything starts
        fill(page, "tilab_train_name", "zork")
        page.click("#tilab_train_load_run")  # the reloaded form is empty: take the run's settings
        page.wait_for_function("document.querySelector('#tilab_train_steps input').value === '100000'",
                               timeout=20000)
        page.locator("#tilab_train_mode label", has_text="resume").click()
        page.click("#tilab_train_check")
        page.wait_for_function("document.querySelector('#tilab_train_plan_box').innerText.includes('Resume run')",
                               timeout=20000)
        plan = page.locator("#tilab_train_plan_box").last.inner_text()
        assert f"exactly from step {stopped_at}" in plan and "needs the run's settings" not in plan, plan
        shot(page, "train-resume-plan.png")

        # the sweep lists the embedding's runs and ticks every checkpoint
        page.click("#tilab_train_sweep_acc")
        page.click("#tilab_train_sweep_refresh")  # zork.pt was written after this page was built
        time.sleep(1)
        page.locator("#tilab_train_sweep_name input").first.click()
        page.locator("ul.options li", has_text="zork").first.click()
        page.wait_for_function("document.querySelectorAll('#tilab_train_sweep_cks input:checked').length >= 1",
                               timeout=20000)
        fill(page, "tilab_train_sweep_weights", "0.5, 1")
        fill(page, "tilab_train_sweep_steps", "2")
        page.click("#tilab_train_sweep_btn")
        try:
            page.wait_for_function(
                "document.querySelector('#tilab_train_sweep_out').innerText.includes('grid saved')", timeout=120000)
        finally:
            shot(page, "train-sweep.png")
        sweep_line = page.locator("#tilab_train_sweep_out").last.inner_text()
        assert "2 images from 1 of 1 checkpoints" in sweep_line and f"zork-{stopped_at}.pt" in sweep_line
        page.wait_for_selector("#tilab_train_sweep_img img", timeout=20000)
        shot(page, "train-sweep.png")
        assert not page.errors, page.errors
        assert line
