"""The Dataset tab in headless Chromium: run a check on a small folder and see the verdict card."""

from __future__ import annotations

import shutil

import pytest

from browser_support import browser_page, open_tab, require_chromium, standalone_server, SCREENSHOTS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    require_chromium()
    data = tmp_path_factory.mktemp("tilab-data")
    with standalone_server(data) as url:
        yield url, data


def _shot(page, name: str) -> None:
    """Screenshot of the TI Lab tabs, palette-quantised so it stays under 300 KB for the README."""
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.locator("#tilab_tabs").screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _run(page, url: str, folder: str) -> None:
    page.goto(url)
    open_tab(page, "Dataset")
    page.locator("#tilab_dataset_folder textarea, #tilab_dataset_folder input").first.fill(folder)
    page.locator("#tilab_dataset_run").click()


def test_check_shows_verdict_card_findings_and_files(app, dataset_folder, tmp_path):
    url, data = app
    folder = tmp_path / "closeups"
    shutil.copytree(dataset_folder("closeups"), folder)
    before = sorted(p.name for p in folder.iterdir())
    with browser_page(1300, 1000) as page:
        _run(page, url, str(folder))
        card = page.locator("#tilab_dataset_verdict .tilab-verdict")
        card.wait_for(timeout=90_000)
        assert "Fix before training" in card.inner_text()
        assert "close-ups with half-body or full-body shots" in card.inner_text()
        assert page.locator("#tilab_dataset_findings img").count() >= 7  # thumbnails grouped by finding
        assert page.locator("#tilab_dataset_heatmap table.hm").count() == 2
        assert "close-up" in page.locator("#tilab_dataset_zoom").first.inner_text()
        page.locator("#tilab_dataset_files").first.scroll_into_view_if_needed()
        assert ".html" in page.locator("#tilab_dataset_files").first.inner_text()
        _shot(page, "dataset-closeups.png")
        assert not page.errors
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into the dataset
    assert list((data / "checks").glob("closeups-*.json")) and list((data / "checks").glob("closeups-*.html"))


def test_shared_background_is_shown_with_its_caption_note(app, dataset_folder):
    url, _ = app
    with browser_page(1300, 1000) as page:
        _run(page, url, str(dataset_folder("shared_background")))
        page.locator("#tilab_dataset_verdict .tilab-verdict").wait_for(timeout=90_000)
        text = page.locator("#tilab_dataset_findings").first.inner_text()
        assert "One background in most photos" in text and "No captions found" in text
        _shot(page, "dataset-shared-background.png")


def test_missing_folder_is_explained_in_the_tab(app, tmp_path):
    url, _ = app
    with browser_page(1300, 700) as page:
        _run(page, url, str(tmp_path / "nowhere"))
        err = page.locator("#tilab_dataset_status .tilab-error")
        err.wait_for(timeout=30_000)
        assert "does not exist" in err.inner_text()
        _shot(page, "dataset-error.png")
        assert page.locator("#tilab_dataset_verdict .tilab-verdict").count() == 0
