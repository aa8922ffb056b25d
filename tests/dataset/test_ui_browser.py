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


def test_passing_set_shows_photos_and_copies_can_be_set_aside_and_put_back(app, dataset_folder, tmp_path):
    """A duplicate set: photos shown, one progress bar, the copies ticked; Set aside moves them, Undo puts them back."""
    url, _ = app
    folder = tmp_path / "mirrors"
    shutil.copytree(dataset_folder("mirrors_and_crops"), folder)
    with browser_page(1300, 1000) as page:
        _run(page, url, str(folder))
        page.wait_for_timeout(1500)
        shown = page.locator(".progress-text").evaluate_all("els => els.filter(e => e.offsetParent !== null).length")
        assert shown <= 1  # one progress display (on the status line), not one per output
        page.locator("#tilab_dataset_verdict .tilab-verdict").wait_for(timeout=90_000)
        assert page.locator("#tilab_dataset_gallery img").count() == 8
        labels = page.locator("#tilab_dataset_copies label")
        assert sorted(labels.all_inner_texts()) == ["01_mirror.jpg", "02_mirror_crop.jpg", "04_crop.jpg"]
        page.locator("#tilab_dataset_set_aside").click()
        page.get_by_text("Set aside 3 of 3").wait_for(timeout=30_000)
        assert sorted(p.name for p in (folder / "_excluded").iterdir()) == ["01_mirror.jpg", "02_mirror_crop.jpg",
                                                                            "04_crop.jpg"]
        page.locator("#tilab_dataset_undo").click()
        page.get_by_text("Put back 3").wait_for(timeout=30_000)
        assert not any((folder / "_excluded").iterdir()) and (folder / "04_crop.jpg").exists()
        assert not page.errors


#: Geometry of each heatmap box in the Dataset tab: its visible and scrollable widths, the last header cell's text,
#: and — after scrolling the box to its end — where the last column's cell sits against the box's edges.
HEATMAP_GEOMETRY = """() => [...document.querySelectorAll('#tilab_dataset_heatmap .hm-wrap')].map(w => {
  const rows = w.querySelectorAll('tr'), heads = rows[0].cells, row = rows[1], last = row.cells[row.cells.length - 1];
  w.scrollLeft = w.scrollWidth;
  const box = w.getBoundingClientRect(), cell = last.getBoundingClientRect();
  const label = row.cells[0].getBoundingClientRect();
  const out = {client: w.clientWidth, scroll: w.scrollWidth, overflow: getComputedStyle(w).overflowX,
               lastHead: heads[heads.length - 1].textContent, cellLeft: cell.left - box.left,
               cellRight: cell.right - box.right, labelLeft: label.left - box.left, cellWidth: cell.width};
  w.scrollLeft = 0;
  return out; })"""


def _inject_heatmap(page, count: int) -> None:
    """Put a ``count``-photo heatmap (built by the product's own function) in place of the first one shown, so its
    fit is measured in the tab's real column with the page's own CSS, without checking that many photos."""
    from lib_ti.dataset.report import heatmap_html

    names = [f"photo_{i:02d}.jpg" for i in range(count)]
    matrix = [[1.0 if i == j else 0.6 for j in range(count)] for i in range(count)]
    page.evaluate("html => { const w = document.querySelector('#tilab_dataset_heatmap .hm-wrap');"
                  " const box = document.createElement('div'); box.innerHTML = html;"
                  " w.replaceWith(...box.childNodes); }", heatmap_html(names, matrix))


def test_heatmap_shows_every_column_labelled_by_file_name(app, dataset_folder):
    """Issue 13 item 8: the heatmap's last column was clipped in a ~480 px column. A set's table fits the column,
    labelled with the file names; a dozen photos still fit; a wide one scrolls inside its box (said above it), the
    last column reachable and the row labels kept in view."""
    url, _ = app
    folder = dataset_folder("mirrors_and_crops")
    stems = sorted(p.stem for p in folder.iterdir() if p.suffix == ".jpg")
    with browser_page(1300, 1000) as page:
        _run(page, url, str(folder))
        page.locator("#tilab_dataset_heatmap table.hm").first.wait_for(timeout=90_000)
        shown = page.evaluate(HEATMAP_GEOMETRY)
        assert len(shown) == 2
        for g in shown:
            assert g["scroll"] <= g["client"], g  # nothing hidden: no scrolling needed for this set
            assert g["lastHead"] == stems[-1] and g["cellRight"] <= 0, g
        heads = page.locator("#tilab_dataset_heatmap tr").first.inner_text().split()
        assert heads == stems

        _inject_heatmap(page, 12)  # the set: 10 photos and a copy, plus a label column
        dozen = page.evaluate(HEATMAP_GEOMETRY)[0]
        assert dozen["scroll"] <= dozen["client"] and dozen["cellRight"] <= 0, dozen

        _inject_heatmap(page, 40)
        wide = page.evaluate(HEATMAP_GEOMETRY)[0]
        assert wide["overflow"] in ("auto", "scroll") and wide["scroll"] > wide["client"], wide
        assert wide["lastHead"] == "photo_39"
        assert 0 <= wide["cellLeft"] and wide["cellRight"] <= 0.5 and wide["cellWidth"] >= 20, wide  # reachable, whole
        assert wide["labelLeft"] >= -0.5, wide  # the row labels stay in view while scrolled
        assert "scroll sideways" in page.locator("#tilab_dataset_heatmap .hm-scroll-hint").first.inner_text()
        page.locator("#tilab_dataset_heatmap").first.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#tilab_dataset_heatmap").first.screenshot(path=str(SCREENSHOTS / "dataset-heatmap-wide.png"))
        assert not page.errors
