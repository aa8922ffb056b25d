"""Talking to a running WebUI (the "host") for the real-host tier: its HTTP API and its page in Chromium.

Why a separate helper: the tier drives the host the way a user does (Extensions tab, TI Lab tab, txt2img) and
checks the outcome through the host's own API, so the same few calls recur in every test.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from lib_ti.ui.app import ROOT_ELEM_ID

HOST_URL = os.environ.get("TILAB_HOST_URL", "").rstrip("/")
SKIP_REASON = ("TILAB_HOST_URL is not set: start the WebUI v1.10.1 with --api (tools/real_host/harness.py launch) "
               "and set TILAB_HOST_URL to its address; see docs/real-host.md")


FINAL = re.compile(r"(Finished|Interrupted) at step (\d+)|Error")
TAB_ID = f"tab_{ROOT_ELEM_ID}"
RUN_TAG = time.strftime("%H%M%S")  # embedding names unique per run: a host keeps those of earlier runs


class HostError(AssertionError):
    """The host answered with an HTTP error; the message carries its body."""


def api(path: str, body: Optional[dict] = None, timeout: float = 120.0) -> Any:
    """GET (``body`` None) or POST JSON to the host's API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(f"{HOST_URL}{path}", data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise HostError(f"{req.method} {path} → HTTP {exc.code}: {exc.read()[:2000]!r}") from None


def checkpoint(name: str) -> Optional[dict]:
    """The ``/sdapi/v1/sd-models`` entry whose file name or model name is ``name`` (None when absent)."""
    stem = name.rsplit(".", 1)[0]
    for entry in api("/sdapi/v1/sd-models"):
        if os.path.basename(entry["filename"]) == name or entry["model_name"] == stem:
            return entry
    return None


def load_checkpoint(entry: dict) -> None:
    """Switch the host's model (as the checkpoint dropdown does) and wait until it reports it loaded."""
    api("/sdapi/v1/options", {"sd_model_checkpoint": entry["title"]})
    loaded = api("/sdapi/v1/options")["sd_model_checkpoint"]
    # titles gain " [shorthash]" once the host has hashed the file
    assert loaded.split(" [")[0] == entry["title"].split(" [")[0], (loaded, entry["title"])


def embeddings() -> dict:
    """``GET /sdapi/v1/embeddings`` → ``{"loaded": {...}, "skipped": {...}}``."""
    return api("/sdapi/v1/embeddings")


def txt2img_infotext(prompt: str, **params: Any) -> str:
    """The infotext of one small txt2img image for ``prompt``."""
    body = {"prompt": prompt, "steps": 4, "width": 64, "height": 64, "seed": 1, "sampler_name": "Euler",
            "cfg_scale": 7, **params}
    result = api("/sdapi/v1/txt2img", body, timeout=600)
    return json.loads(result["info"])["infotexts"][0]


def wait_until(predicate, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def fill(page, elem_id: str, value: Any) -> None:
    """Type ``value`` into the text/number input of the gradio component ``#elem_id`` and let gradio see it.

    Works for textboxes, numbers, sliders (their number box) and dropdowns that accept a typed value (the
    value is taken on keyup)."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input:not([type=range]):not([type=checkbox])"
                       ":not([type=radio])").first
    box.fill(str(value))
    box.dispatch_event("input")
    box.dispatch_event("keyup")  # a dropdown with allow_custom_value takes the typed text on keyup
    box.dispatch_event("change")
    box.blur()


def open_host_tab(page, title: str) -> None:
    """Click a top-level host tab by its title (gradio 3.41 renders tabs as plain buttons)."""
    page.locator("#tabs > .tab-nav button", has_text=title).first.click()


def open_sub_tab(page, root_elem_id: str, title: str) -> None:
    page.locator(f"#{root_elem_id} .tab-nav button", has_text=title).first.click()


def goto_host(page) -> None:
    """Load the host's page and wait until its UI is built (txt2img's Generate button is there)."""
    page.goto(HOST_URL + "/")
    page.wait_for_selector("#txt2img_generate", timeout=120000)


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in the gradio 3.41 dropdown ``#elem_id`` (one without custom values) as a user does."""
    page.locator(f"#{elem_id} input").first.click()
    page.locator(f"#{elem_id} ul.options li", has_text=value).first.click()
    page.locator(f"#{elem_id} input").first.blur()


def train_in_tab(page, name: str, data: Path, steps: int, *, save_every: int, preview_every: int,
                 preview: Optional[dict] = None) -> str:
    """Start a TI Lab run from its Train tab at 64 px; ``preview``: ``{"sampler", "steps", "seed", "cfg"}``.

    Returns the status text shown before the click: the tab shows the host's last run (of any page) until this
    one starts, so :func:`final_status` must not take that for this run's end."""
    open_host_tab(page, "TI Lab")
    open_sub_tab(page, f"{ROOT_ELEM_ID}_tabs", "Train")
    for elem_id, value in [("tilab_train_name", name), ("tilab_train_data", str(data)), ("tilab_train_steps", steps),
                           ("tilab_train_width", 64), ("tilab_train_height", 64),
                           ("tilab_train_save_every", save_every), ("tilab_train_preview_every", preview_every)]:
        fill(page, elem_id, value)
    if preview:
        accordion = page.locator("#tilab_train_preview_acc")
        if not page.locator("#tilab_train_preview_steps").first.is_visible():
            accordion.locator(".label-wrap").first.click()
        choose(page, "tilab_train_preview_sampler", preview["sampler"])
        for key in ("steps", "seed", "cfg"):
            fill(page, f"tilab_train_preview_{key}", preview[key])
    before = train_status(page)
    page.click("#tilab_train_start")
    return before


def train_status(page) -> str:
    return page.locator("#tilab_train_status").first.inner_text()  # gradio 3 repeats an HTML block's id inside


def final_status(page, timeout: float, before: str = "") -> str:
    """The status once it reports the end of a run other than the one shown as ``before``."""
    def ended() -> str:
        text = train_status(page)
        return text if text != before and FINAL.search(text) else ""
    return wait_until(ended, timeout, "the end of the TI Lab run")
