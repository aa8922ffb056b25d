"""The standalone app in headless Chromium: Schedule and Emphasis tabs, and the prompt-box presets."""

import pytest

from browser_support import browser_page, open_tab, require_chromium, shot, standalone_server


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_chromium()
    with standalone_server(tmp_path_factory.mktemp("tilab-data")) as url:
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector("#tilab_schedule_text textarea", state="attached", timeout=60000)
            page.wait_for_selector("#txt2img_prompt .tilab-preset-select", timeout=30000)
            yield page


def _set(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.fill(value)
    box.dispatch_event("input")


def test_schedule_tab_traces_lints_and_plots(app):
    page = app
    open_tab(page, "Schedule")
    page.wait_for_selector("#tilab_schedule_plot svg", timeout=30000)
    _set(page, "#tilab_schedule_text textarea", "0.01:100,0.001:50,0.0001")
    page.wait_for_function("document.querySelector('#tilab_schedule_status').innerText.includes('one update')",
                           timeout=30000)
    rows = page.locator("#tilab_schedule_table tbody tr")
    assert rows.count() == 3
    _set(page, "#tilab_schedule_text textarea", "0.1:1e3")
    page.wait_for_selector("#tilab_schedule_status .tilab-fault", timeout=30000)
    assert "character 5" in page.locator("#tilab_schedule_status").first.inner_text()
    page.locator("#tilab_schedule_preset label", has_text="Exponential decay").click()
    page.wait_for_function(
        "document.querySelector('#tilab_schedule_text textarea').value.startsWith('5e-2:400')", timeout=30000)
    _set(page, "#tilab_schedule_exponential_stages input", "3")
    page.wait_for_function(
        "document.querySelector('#tilab_schedule_text textarea').value === '5e-2:667,1.6e-3:1333,5e-5'",
        timeout=30000)
    # the plot (inline SVG) follows the string: one rate label per segment, drawn at the width of its column
    page.wait_for_function("document.querySelector('#tilab_schedule_plot svg').textContent.includes('1.6e-3')",
                           timeout=30000)
    labels = page.locator("#tilab_schedule_plot svg text").all_text_contents()
    assert {"5e-2", "1.6e-3", "5e-5", "learning rate (log)"} <= set(labels), labels
    box = page.locator("#tilab_schedule_plot svg").first.bounding_box()
    column = page.locator("#tilab_schedule_text").first.bounding_box()
    assert box["width"] >= 0.9 * column["width"] and box["height"] > 150, (box, column)
    shot(page, "schedule-tab.png")
    assert page.errors == []


def test_emphasis_tab_shows_weights_inverse_and_applies_presets(app):
    page = app
    open_tab(page, "Emphasis")
    page.wait_for_selector("#tilab_emphasis_segments table", timeout=30000)
    assert "0.6209" in page.locator("#tilab_emphasis_segments").first.inner_text()
    _set(page, "#tilab_emphasis_prompt textarea", "a [cat:0.5] photo of my_embedding")
    page.wait_for_selector("#tilab_emphasis_segments .tilab-flag-prompt-editing", timeout=30000)
    page.locator("#tilab_emphasis_preset label", has_text="0.75").click()
    page.locator("#tilab_emphasis_apply").click()
    page.wait_for_function(
        "document.querySelector('#tilab_emphasis_prompt textarea').value.endsWith('(my_embedding:0.75)')",
        timeout=30000)
    _set(page, "#tilab_emphasis_inv_weight input", "1.3")
    page.wait_for_function("document.querySelector('#tilab_emphasis_inverse').innerText.includes('(((my_embedding)))')",
                           timeout=30000)
    shot(page, "emphasis-tab.png")
    assert page.errors == []


def test_prompt_box_preset_control_and_shortcut(app):
    page = app
    # The control's label must be readable: gradio's own form styles once padded it out of its 22 px box.
    style = page.evaluate("() => { const s = getComputedStyle(document.querySelector('.tilab-preset-select'));"
                          " return [s.fontSize, s.paddingTop, s.height]; }")
    assert style == ["12px", "0px", "22px"]
    box = page.locator("#txt2img_prompt textarea")
    _set(page, "#txt2img_prompt textarea", "a photo of my_embedding in a garden")
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea'); t.focus();"
                  " t.setSelectionRange(13, 13); }")
    page.select_option("#txt2img_prompt .tilab-preset-select", "0.62")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === 'a photo of (my_embedding:0.62) in a garden'",
        timeout=10000)
    # The rewritten form stays selected; Alt+E applies the last chosen preset again (idempotent)...
    page.keyboard.press("Alt+e")
    page.wait_for_timeout(500)
    assert box.input_value() == "a photo of (my_embedding:0.62) in a garden"
    # ...and on another word it applies the same weight there.
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea'); t.focus();"
                  " t.setSelectionRange(38, 38); }")
    page.keyboard.press("Alt+e")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value.endsWith('a (garden:0.62)')", timeout=10000)
    shot(page, "prompt-presets.png")
    assert page.errors == []
