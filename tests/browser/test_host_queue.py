"""TI Lab inside an emulation of the host's page and queue, where the real WebUI cannot run.

The host renders each extension's Blocks inside a ``gr.TabItem`` of its own Blocks (``modules/ui.py``
``create_ui``) and runs the queue with 64 workers (``shared.demo.queue(64)`` in ``webui.py``); TI Lab's
context says it is in the host (threads instead of worker processes for checks, host wording). The same
responsiveness check as the standalone journey runs against that page.
"""

from __future__ import annotations

import pytest

from browser_support import browser_page, free_port, require_chromium, shot
from browser.journey_support import check_responsiveness, journey_set


@pytest.fixture(scope="module")
def host_page(tmp_path_factory):
    require_chromium()
    import gradio as gr

    from lib_ti.core.context import standalone_context
    from lib_ti.ui.app import HOST_QUEUE_WORKERS, build_blocks

    ctx = standalone_context(tmp_path_factory.mktemp("host-data"))
    ctx.in_host = True
    extension = build_blocks(ctx)
    with gr.Blocks(analytics_enabled=False) as demo:
        with gr.Tabs(elem_id="tabs"):
            with gr.TabItem("txt2img", id="txt2img", elem_id="tab_txt2img"):
                gr.Textbox(label="Prompt", elem_id="txt2img_prompt", lines=2)
            with gr.TabItem("TI Lab", id="tilab", elem_id="tab_tilab"):
                extension.render()
    demo.queue(HOST_QUEUE_WORKERS)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with browser_page() as page:
            url = f"http://127.0.0.1:{port}/"
            page.goto(url)
            page.wait_for_selector("#tilab_schedule_text textarea", state="attached", timeout=60000)
            yield page, url
    finally:
        demo.close()


def _enter_tilab(page) -> None:
    page.locator("#tabs > .tab-nav button", has_text="TI Lab").first.click()


def test_other_tabs_answer_while_a_check_runs_in_the_host_queue(host_page):
    page, url = host_page
    figures = check_responsiveness(page, url, journey_set(), enter=_enter_tilab)
    shot(page, "host-emulation-check-stopped.png")
    assert figures["emphasis_during"] and figures["schedule_during"] and figures["stop_during"]
    assert "stopped early" in figures["status"]
