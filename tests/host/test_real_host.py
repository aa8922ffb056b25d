"""TI Lab inside the real WebUI v1.10.1: the checks a user would make by hand, in the order a user makes them.

Runs only when ``TILAB_HOST_URL`` points at a running host started with ``--api`` (``tools/real_host/harness.py
launch`` starts one offline on CPU with tiny random checkpoints); skipped with that reason otherwise. Everything
is driven through the host's own page (Extensions → Install from URL, the TI Lab tab, txt2img's prompt box and
Interrupt button) and checked through the host's own API (``/sdapi/v1/embeddings``, ``/sdapi/v1/txt2img``).

Environment: ``TILAB_HOST_URL`` (required); ``TILAB_INSTALL_URL`` (what to install, default this repository's
folder — a git clone of its HEAD commit); ``TILAB_HOST_SD1`` / ``TILAB_HOST_SD2V`` (checkpoint file names, default
the harness's ``tiny.safetensors`` / ``tiny-sd2v.safetensors``). Screenshots go to ``out/screenshots/host-tier-*``
(or ``TILAB_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from browser_support import REPO, shot
from host.host_support import (HOST_URL, RUN_TAG, SKIP_REASON, TAB_ID, HostError, api, checkpoint, embeddings,
                               fill, final_status, goto_host, load_checkpoint, open_host_tab, open_sub_tab,
                               train_in_tab,
                               train_status, txt2img_infotext, wait_until)
from lib_ti.ui.app import ROOT_ELEM_ID, TABS

pytestmark = pytest.mark.skipif(not HOST_URL, reason=SKIP_REASON)

#: (test id, env var naming the checkpoint, its default in the harness, parameterization its yaml must declare)
CHECKPOINTS = [
    ("sd1", "TILAB_HOST_SD1", "tiny.safetensors", None),
    ("sd2v", "TILAB_HOST_SD2V", "tiny-sd2v.safetensors", "v"),
]


def _tilab_present(page) -> bool:
    return page.locator(f"#{TAB_ID}").count() > 0


def _install_source() -> str:
    source = os.environ.get("TILAB_INSTALL_URL") or str(REPO)
    if not os.environ.get("TILAB_INSTALL_URL"):
        head = subprocess.run(["git", "-C", source, "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode != 0:
            pytest.fail(f"{source} is not a git repository with a commit; set TILAB_INSTALL_URL to TI Lab's git URL")
    return source


def _reload_ui(page) -> None:
    """The footer's "Reload UI": the host rebuilds its UI in-process and loads newly installed extensions."""
    page.evaluate("() => gradioApp().getElementById('settings_restart_gradio').click()")
    time.sleep(3)
    deadline = time.time() + 180
    while True:
        try:
            goto_host(page)
            return
        except Exception:  # the server is restarting: connection refused or an empty page for a moment
            if time.time() > deadline:
                raise
            time.sleep(2)


def _install_result(page) -> str:
    """The text of the host's install result (``#extension_install_result`` exists twice; one is shown)."""
    return page.evaluate("() => [...gradioApp().querySelectorAll('#extension_install_result')]"
                         ".map(e => e.innerText).join(' ')")


def test_install_from_url_adds_the_tab(page):
    if _tilab_present(page):
        pytest.skip("TI Lab is already installed in this host; the install step runs on a host without it "
                    "(harness.py launch --fresh)")
    source = _install_source()
    open_host_tab(page, "Extensions")
    open_sub_tab(page, "tabs_extensions", "Install from URL")
    panel = page.locator("#tabs_extensions").locator("div.tabitem:visible")
    panel.get_by_label("URL for extension's git repository").fill(source)
    panel.get_by_label("Local directory name").fill("ti-lab")
    panel.get_by_role("button", name="Install").click()
    text = wait_until(lambda: next((t for t in [_install_result(page)] if "Installed into" in t or "Error" in t), ""),
                      300, "the install result")
    shot(page, "host-tier-install.png")
    assert "Installed into" in text and "ti-lab" in text, text
    _reload_ui(page)
    assert _tilab_present(page), "the TI Lab tab is missing after Reload UI"


def test_tab_shows_all_sub_tabs(page):
    open_host_tab(page, "TI Lab")
    buttons = page.locator(f"#{TAB_ID} #{ROOT_ELEM_ID}_tabs > .tab-nav button")
    assert [b.strip() for b in buttons.all_inner_texts()] == [title for title, _, _ in TABS]
    top = [b.strip() for b in page.locator("#tabs > .tab-nav button").all_inner_texts()]
    assert top.index("TI Lab") == top.index("Train") + 1, top  # between the host's Train and Settings
    for title, _, suffix in TABS:
        open_sub_tab(page, f"{ROOT_ELEM_ID}_tabs", title)
        page.wait_for_selector(f"#{ROOT_ELEM_ID}_{suffix}_tab", state="visible", timeout=30000)
    shot(page, "host-tier-tab.png")
    assert page.errors == []


@pytest.mark.parametrize("kind, env, default, parameterization", CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS])
def test_train_in_tab_then_listed_and_used_by_txt2img(page, dataset, kind, env, default, parameterization):
    entry = checkpoint(os.environ.get(env, default))
    if entry is None:
        pytest.skip(f"checkpoint {os.environ.get(env, default)!r} is not in the host ({env})")
    if parameterization and entry.get("config") and Path(entry["config"]).exists():
        assert f"parameterization: {parameterization}" in Path(entry["config"]).read_text(), entry["config"]
    load_checkpoint(entry)
    goto_host(page)  # a page opened earlier still shows the old checkpoint at the top
    name = f"tilabhost{kind}{RUN_TAG}"
    steps = 30
    started = time.monotonic()
    before = train_in_tab(page, name, dataset, steps, save_every=10, preview_every=steps)
    status = final_status(page, 600, before)
    seconds = time.monotonic() - started
    page.wait_for_selector("#tilab_train_gallery img", timeout=60000)
    shot(page, f"host-tier-train-{kind}.png")
    print(f"\n[{kind}] {entry['title']}: {steps} steps in {seconds:.1f} s; status: {status!r}")
    assert f"Finished at step {steps}" in status, status

    listed = embeddings()["loaded"].get(name)
    print(f"[{kind}] /sdapi/v1/embeddings → {name}: {listed}")
    assert listed is not None, f"{name} not listed: {sorted(embeddings()['loaded'])}"
    assert listed["step"] == steps and listed["sd_checkpoint_name"] == entry["model_name"], listed

    used = txt2img_infotext(f"a photo of {name} on a table")
    print(f"[{kind}] txt2img infotext: {used!r}")
    assert f'TI hashes: "{name}: ' in used, used
    assert "TI hashes" not in txt2img_infotext("a photo of a teapot on a table")


def test_prompt_box_presets_reach_txt2img(page):
    """The preset control rewrites the selection in txt2img's prompt box, and the host generates from the new text."""
    open_host_tab(page, "txt2img")
    select = page.locator("#txt2img_prompt .tilab-preset-select")
    select.wait_for(timeout=30000)
    weight = select.locator("option").nth(2).get_attribute("value")
    style = page.evaluate("() => opts.tilab_emphasis_output")
    prompt = "a photo of teapot in a garden"
    fill(page, "txt2img_prompt", prompt)
    page.evaluate("() => { const t = gradioApp().querySelector('#txt2img_prompt textarea'); t.focus();"
                  " t.setSelectionRange(11, 17); }")
    select.select_option(weight)
    expected = f"a photo of (teapot:{weight}) in a garden"
    if style == "explicit":
        wait_until(lambda: page.locator("#txt2img_prompt textarea").input_value() == expected, 30,
                   f"the prompt to become {expected!r}")
    rewritten = page.locator("#txt2img_prompt textarea").input_value()
    assert rewritten != prompt and "teapot" in rewritten, rewritten
    for elem_id, value in [("txt2img_steps", 4), ("txt2img_width", 64), ("txt2img_height", 64)]:
        fill(page, elem_id, value)
    page.click("#txt2img_generate")
    info = page.locator("#html_info_txt2img").first
    wait_until(lambda: "Steps: 4" in info.inner_text(), 300, "the generated image's infotext")
    shot(page, "host-tier-txt2img-presets.png")
    assert info.inner_text().startswith(rewritten), info.inner_text()


def _steps_done_once_flagged(flag: str) -> int:
    """The host's ``job_no`` (TI Lab's steps done) as soon as the host's state shows ``flag``."""
    def probe():
        state = api("/sdapi/v1/progress?skip_current_image=true")["state"]
        return (state["job_no"],) if state[flag] else None
    return wait_until(probe, 30, f"the host's {flag} flag", interval=0.05)[0]


@pytest.mark.parametrize("via", ["button", "api"])
def test_interrupt_stops_a_tilab_run(page, dataset, via):
    """txt2img's Interrupt button (and ``/sdapi/v1/interrupt``) stops a TI Lab run after its current step."""
    entry = checkpoint(os.environ.get("TILAB_HOST_SD1", "tiny.safetensors"))
    if entry is None:
        pytest.skip("the SD1 checkpoint is not in the host (TILAB_HOST_SD1)")
    load_checkpoint(entry)
    name = f"tilabhoststop{via}{RUN_TAG}"
    total = 100000
    before = train_in_tab(page, name, dataset, total, save_every=1000, preview_every=0)
    step_re = re.compile(r"Step (\d+)/")
    wait_until(lambda: (m := step_re.search(train_status(page))) and int(m.group(1)) >= 3, 300, "a few training steps")
    progress = api("/sdapi/v1/progress?skip_current_image=true")["state"]
    assert progress["job"].startswith("tilab-"), progress  # the run is on the host's progress state
    asked = time.monotonic()
    if via == "button":
        page.evaluate("() => gradioApp().querySelector('#txt2img_interrupt').click()")
    else:
        api("/sdapi/v1/interrupt", {})
    # the step count when the host has taken the request (the button's click reaches it through gradio's queue)
    flag = "stopping_generation" if via == "button" else "interrupted"  # the button's choice for multi-step jobs
    at_request = _steps_done_once_flagged(flag)
    status = final_status(page, 60, before)
    seen_after = time.monotonic() - asked
    stopped = re.search(r"Interrupted at step (\d+)", status)
    print(f"\n[interrupt via {via}] {at_request} steps done when the host set {flag}; the page showed the stop "
          f"{seen_after:.1f} s later: {status!r}")
    assert stopped, status
    # the step running when the request came is finished, then the run stops (one more may have begun meanwhile)
    assert at_request <= int(stopped.group(1)) <= at_request + 2, (at_request, status)
    assert "resume from" in status, status
    assert embeddings()["loaded"][name]["step"] == int(stopped.group(1))
    assert api("/sdapi/v1/progress?skip_current_image=true")["state"]["job"] == ""
    # the host's next job is not interrupted by the flag the stop left behind
    assert "Steps: 4" in txt2img_infotext("a photo of a teapot")


def _host_answers() -> bool:
    try:
        api("/sdapi/v1/progress?skip_current_image=true", timeout=5)
        return True
    except (OSError, HostError):  # restarting: connection refused, reset or timed out
        return False


def test_reload_ui_after_a_closed_tab_then_a_new_page_reattaches(page, dataset):
    """Issue 9, items 6–7: a TI Lab run whose browser tab was closed mid-run does not block the host's "Reload
    UI": the server really restarts (it stops answering) and answers again within a minute. The host's restart
    interrupts running jobs (``State.request_restart`` calls ``interrupt()``), so a page opened afterwards shows
    the run's end with its resume path, not an empty tab."""
    entry = checkpoint(os.environ.get("TILAB_HOST_SD1", "tiny.safetensors"))
    if entry is None:
        pytest.skip("the SD1 checkpoint is not in the host (TILAB_HOST_SD1)")
    load_checkpoint(entry)
    step_re = re.compile(r"Step (\d+)/")

    def step_shown(pg) -> int:
        found = step_re.search(train_status(pg))
        return int(found.group(1)) if found else 0

    name = f"tilabhostreload{RUN_TAG}"
    tab = page.context.browser.new_context(viewport={"width": 1400, "height": 1100})
    trainer_page = tab.new_page()
    goto_host(trainer_page)
    before = train_in_tab(trainer_page, name, dataset, 100000, save_every=1000, preview_every=0)
    wait_until(lambda: step_shown(trainer_page) >= 2, 300, "a few steps in the tab that started the run")
    tab.close()  # the tab is gone mid-run (its connections with it); the run goes on in the host
    assert api("/sdapi/v1/progress?skip_current_image=true")["state"]["job"].startswith("tilab-")

    goto_host(page)
    asked = time.monotonic()
    page.evaluate("() => gradioApp().getElementById('settings_restart_gradio').click()")
    wait_until(lambda: not _host_answers(), 60, "the server to go down for Reload UI", interval=0.2)
    down_after = time.monotonic() - asked
    wait_until(_host_answers, 60, "the WebUI to answer again after Reload UI (issue 9, item 6)", interval=1)
    back_after = time.monotonic() - asked
    wait_until(lambda: _goto_ok(page), 60, "the host's page after Reload UI", interval=2)

    open_host_tab(page, "TI Lab")
    open_sub_tab(page, f"{ROOT_ELEM_ID}_tabs", "Train")
    status = final_status(page, 120, before)
    shot(page, "host-tier-reattach.png")
    print(f"\n[reload] the server went down {down_after:.1f} s after Reload UI and answered again after "
          f"{back_after:.1f} s; the new page shows: {status!r}")
    assert re.search(r"Interrupted at step \d+", status) and "resume from" in status and name in status, status
    assert api("/sdapi/v1/progress?skip_current_image=true")["state"]["job"] == ""


def _goto_ok(pg) -> bool:
    try:
        goto_host(pg)
        return True
    except Exception:  # the UI is still being rebuilt
        return False


def test_reload_ui_after_a_request_that_never_ended(page):
    """Issue 9, item 6, on demand: a request left running by a client that went away (the probe extension's
    ``/tilab-probe/stuck``) hangs the host's Reload UI for ever without TI Lab (gradio 3.41 joins uvicorn's
    graceful shutdown with no timeout; seen: "NOT back after 90 s"). With TI Lab installed its shutdown watchdog
    forces the shutdown after ``SHUTDOWN_GRACE_S`` and the host answers again."""
    import socket
    from urllib.parse import urlsplit

    from lib_ti.core.server_shutdown import SHUTDOWN_GRACE_S

    try:
        api("/tilab-probe/ping", timeout=10)
    except HostError:
        pytest.skip("the probe extension is not installed (harness.py launch --probe)")
    goto_host(page)
    where = urlsplit(HOST_URL)
    with socket.create_connection((where.hostname, where.port or 80), timeout=10) as conn:
        conn.sendall(f"GET /tilab-probe/stuck HTTP/1.1\r\nHost: {where.netloc}\r\n\r\n".encode())
        time.sleep(1)  # the handler is running; then the client goes away
    asked = time.monotonic()
    page.evaluate("() => gradioApp().getElementById('settings_restart_gradio').click()")
    wait_until(lambda: not _host_answers(), 60, "the server to go down for Reload UI", interval=0.2)
    wait_until(_host_answers, SHUTDOWN_GRACE_S + 60, "the WebUI to answer again after Reload UI", interval=1)
    print(f"\n[reload, a request left running] the host answered again {time.monotonic() - asked:.1f} s after "
          f"Reload UI (shutdown forced after {SHUTDOWN_GRACE_S:g} s)")
    wait_until(lambda: _goto_ok(page), 60, "the host's page after Reload UI", interval=2)
    assert _tilab_present(page), "the TI Lab tab is missing after Reload UI"
