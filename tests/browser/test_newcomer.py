"""A newcomer's first run, in the standalone app of a fresh machine, in headless Chromium.

No checkpoint anywhere: the bundled demo model is preselected and the Train tab says plainly that it is a demo and
where a real checkpoint goes; the example set is offered in the folder list (a copy in the data folder); 2 vectors,
150 steps at the default rate; the run finishes, and its last preview shows what the example set shows, read back
by the demo world's own classifier. Nothing is downloaded and no path is typed.
"""

from __future__ import annotations

from browser.journey_support import fill, small_shot, value_of, wait_train_status
from browser_support import browser_page, open_tab, require_chromium, standalone_server

NAME = "glim"
STEPS = 150


def test_a_newcomer_trains_the_demo_model_on_the_example_set(tmp_path):
    require_chromium()
    from PIL import Image

    from lib_ti.demo import DEMO_SIZE, classifier
    from lib_ti.demo.examples import EXAMPLE_CONCEPT
    from lib_ti.ui.workspace import EXAMPLE_FOLDER

    data = tmp_path / "tilab-data"
    data.mkdir()
    example = data / EXAMPLE_FOLDER
    with standalone_server(data) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#tilab_tabs", timeout=60000)
        open_tab(page, "Train")
        page.locator("#tilab_train_demo_note").first.wait_for(state="visible", timeout=20000)
        note = page.locator("#tilab_train_demo_note").first.inner_text()
        assert "Demo model" in note and str(data / "models") in note, note
        assert value_of(page, "#tilab_train_width input[type=number]") == str(DEMO_SIZE)

        page.locator("#tilab_train_data input").first.click()
        page.locator(f"#tilab_train_data ul.options li:has-text('{example}')").first.click()
        assert value_of(page, "#tilab_train_data input") == str(example)
        fill(page, "tilab_train_name", NAME)
        fill(page, "tilab_train_steps", str(STEPS))
        page.click("#tilab_train_more")
        fill(page, "tilab_train_num_vectors", "2")
        page.click("#tilab_train_preview_acc")
        fill(page, "tilab_train_preview_every", "50")
        small_shot(page, "newcomer-demo-model.png")
        page.click("#tilab_train_start")
        wait_train_status(page, rf"Finished at step {STEPS}", timeout=300)
        page.wait_for_function("document.querySelectorAll('#tilab_train_gallery img').length >= 3", timeout=60000)
        small_shot(page, "newcomer-finished.png")
        assert page.errors == []

    assert sorted(p.name for p in example.glob("*.png"))  # the copy was made and used
    previews = sorted(data.rglob(f"{NAME}-{STEPS}-preview*.png"))
    assert previews, sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
    reading = classifier.read(Image.open(previews[0]))
    assert (reading.colour, reading.shape) == EXAMPLE_CONCEPT, reading
