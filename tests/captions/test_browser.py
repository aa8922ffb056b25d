"""The Captions tab in a real browser: load, navigate, edit, conflict, bulk replace, undo (with screenshots)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from browser_support import CHROMIUM, SCREENSHOTS, require_chromium, standalone_server

REPO = Path(__file__).resolve().parents[2]
SHOTS = SCREENSHOTS
PHOTOS = REPO / "tests" / "data" / "photos" / "dog"

CAPTIONS = {  # file -> bytes: a BOM file, a CRLF file, a missing caption, plain UTF-8
    "00.txt": b"\xef\xbb\xbfa corgi dog sitting on grass, red collar",
    "01.txt": b"a corgi dog on a beach\r\n",
    "03.txt": b"a dog looking at the camera",
    "04.txt": "corgi dog, grass, sunny day, caf\u00e9".encode("utf-8"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from PIL import Image

    d = tmp_path_factory.mktemp("browser") / "dog"
    d.mkdir()
    sources = sorted(PHOTOS.glob("*.jpg")) if PHOTOS.is_dir() else []
    for i in range(5):
        if i < len(sources):
            shutil.copy(sources[i], d / f"{i:02d}.jpg")
        else:
            Image.new("RGB", (320, 240), (40 * i, 120, 200 - 30 * i)).save(d / f"{i:02d}.jpg")
    for name, data in CAPTIONS.items():
        (d / name).write_bytes(data)
    return d


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    require_chromium()
    with standalone_server(tmp_path_factory.mktemp("tilab-data")) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.goto(app_url)
        pg.wait_for_selector("#tilab_captions_folder input", state="attached", timeout=60_000)
        yield pg
        browser.close()


def _editor(pg) -> str:
    return pg.input_value("#tilab_captions_editor textarea")


def _wait_name(pg, name: str) -> None:
    pg.wait_for_selector(f"#tilab_captions_name :text('{name}')", timeout=15_000)


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    path = SHOTS / f"captions-{name}.png"
    pg.locator("#tilab_captions_tab").screenshot(path=str(path))
    with Image.open(path) as im:  # README images stay small: 256-colour palette
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def test_edit_bulk_replace_and_undo_in_the_browser(page, dataset: Path, tiny_blip: Path):
    pg = page
    pg.click("#tilab_tabs button:text-is('Captions')")  # the tab may not be the first one
    pg.wait_for_selector("#tilab_captions_folder input", timeout=10_000)
    pg.fill("#tilab_captions_folder input", str(dataset))  # a dropdown of recent folders that takes typing
    pg.press("#tilab_captions_folder input", "Enter")
    pg.click("#tilab_captions_load")
    pg.wait_for_selector("#tilab_captions_status :text('5 images, 4 with a caption')", timeout=20_000)
    _wait_name(pg, "00.jpg")
    assert _editor(pg) == "a corgi dog sitting on grass, red collar"
    assert pg.locator("#tilab_captions_gallery .thumbnail-item").count() == 5
    # importing open_clip for the counter takes 10-40 s on a cold, busy machine
    pg.wait_for_selector("#tilab_captions_tokens :text('CLIP tokens')", timeout=120_000)

    # click a thumbnail: the editor shows that image's caption (CRLF file shown with \n)
    pg.locator("#tilab_captions_gallery .thumbnail-item").nth(1).click()
    _wait_name(pg, "01.jpg")
    assert _editor(pg).rstrip("\n") == "a corgi dog on a beach"

    # edit, then Alt+Right from inside the editor: saved on blur (CRLF kept), moved to the next image
    pg.fill("#tilab_captions_editor textarea", "a corgi dog running on a beach\n")
    pg.press("#tilab_captions_editor textarea", "Alt+ArrowRight")
    _wait_name(pg, "02.jpg")
    deadline = time.time() + 10
    while (dataset / "01.txt").read_bytes() != b"a corgi dog running on a beach\r\n" and time.time() < deadline:
        time.sleep(0.1)
    assert (dataset / "01.txt").read_bytes() == b"a corgi dog running on a beach\r\n"
    assert not (dataset / "02.txt").exists()  # moving past an empty caption creates no file

    # plain arrow keys move when no text box has the focus
    pg.locator("#tilab_captions_name").first.click()
    pg.keyboard.press("ArrowRight")
    _wait_name(pg, "03.jpg")
    pg.keyboard.press("ArrowLeft")
    _wait_name(pg, "02.jpg")
    pg.keyboard.press("ArrowRight")
    _wait_name(pg, "03.jpg")
    pg.wait_for_selector("#tilab_captions_gallery :text('▶ 03.jpg')", timeout=10_000)  # the gallery follows
    _shot(pg, "editor")

    # conflict: the file changes on disk after loading; the edit is refused, not written
    (dataset / "03.txt").write_bytes(b"changed in another editor")
    st = os.stat(dataset / "03.txt")
    os.utime(dataset / "03.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    pg.fill("#tilab_captions_editor textarea", "my version")
    pg.locator("#tilab_captions_name").first.click()  # blur -> save attempt
    pg.wait_for_selector("#tilab_captions_save_status :text('changed on disk')", timeout=10_000)
    assert (dataset / "03.txt").read_bytes() == b"changed in another editor"
    _shot(pg, "conflict")
    pg.click("#tilab_captions_reload")
    pg.wait_for_function(
        "document.querySelector('#tilab_captions_editor textarea').value === 'changed in another editor'",
        timeout=10_000)

    # bulk replace with preview, then undo
    before = {p.name: p.read_bytes() for p in dataset.glob("*.txt")}
    pg.fill("#tilab_captions_arg_a textarea", "corgi dog")
    pg.fill("#tilab_captions_arg_b textarea", "[name]")
    pg.click("#tilab_captions_preview")
    pg.wait_for_selector("#tilab_captions_bulk_result :text('3 caption(s) will change')", timeout=10_000)
    assert pg.locator("#tilab_captions_bulk_result ins").count() == 3
    assert (dataset / "00.txt").read_bytes() == before["00.txt"]  # preview writes nothing
    _shot(pg, "bulk-preview")
    pg.click("#tilab_captions_apply")
    pg.wait_for_selector("#tilab_captions_bulk_result :text('Changed 3 captions')", timeout=10_000)
    assert (dataset / "00.txt").read_bytes() == b"\xef\xbb\xbfa [name] sitting on grass, red collar"
    assert (dataset / "01.txt").read_bytes() == b"a [name] running on a beach\r\n"
    assert (dataset / "04.txt").read_bytes() == "[name], grass, sunny day, caf\u00e9".encode("utf-8")
    pg.click("#tilab_captions_undo")
    pg.wait_for_selector("#tilab_captions_bulk_result :text('Restored 3 captions')", timeout=10_000)
    assert {p.name: p.read_bytes() for p in dataset.glob("*.txt")} == before
    _shot(pg, "undo")

    # frequencies: the phrase in most captions is highlighted
    pg.click("#tilab_captions_freq >> text=Word and phrase frequencies")
    pg.click("#tilab_captions_stats_refresh")
    pg.wait_for_selector("#tilab_captions_stats .tilab-cap-most", timeout=10_000)
    assert "corgi dog" in pg.inner_text("#tilab_captions_stats .tilab-cap-most")

    # token count: a long caption shows the 75-token chunk boundary
    pg.locator("#tilab_captions_gallery .thumbnail-item").nth(4).click()
    _wait_name(pg, "04.jpg")
    pg.fill("#tilab_captions_editor textarea", ", ".join(["corgi dog on green grass"] * 17))
    pg.wait_for_selector("#tilab_captions_tokens :text('2 chunks')", timeout=10_000)
    pg.locator("#tilab_captions_editor").scroll_into_view_if_needed()
    _shot(pg, "tokens")
    pg.click("#tilab_captions_prev")  # saved before moving
    _wait_name(pg, "03.jpg")
    assert (dataset / "04.txt").read_text("utf-8").startswith("corgi dog on green grass, corgi")

    # BLIP from the tab: a tiny random BLIP folder, existing captions kept, the missing one written
    pg.fill("#tilab_captions_model textarea", str(tiny_blip))
    pg.click("#tilab_captions_existing label:has-text('keep')")
    pg.click("#tilab_captions_blip_run")
    pg.wait_for_selector("#tilab_captions_blip_status :text('Captioned 1 image, kept 4 existing captions')",
                         timeout=90_000)
    assert (dataset / "02.txt").read_text("utf-8").strip()
    assert (dataset / "00.txt").read_bytes() == CAPTIONS["00.txt"]
    # the count under the gallery follows at once (it said 4 before BLIP)
    pg.wait_for_selector("#tilab_captions_page_label :text('5 of 5 with a caption')", timeout=10_000)
    _shot(pg, "blip")
