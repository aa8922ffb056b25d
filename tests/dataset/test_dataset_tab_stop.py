"""The Dataset tab's Stop button: it stops a running check; after a check it keeps the "Checked …" line (which
names the report) and says there is nothing to stop, instead of replacing it with "Nothing is running."."""

from __future__ import annotations

import pytest

from lib_ti.ui import jobs_ui
from lib_ti.ui.dataset_tab import JOB_NAME, NOTHING_TO_STOP, stop_status

CHECKED = "<div class='tilab-status'>Checked 7 images in /photos/face. Report: /data/checks/face-1.html</div>"
ERROR = "<div class='tilab-error'>⚠ The dataset folder '/nope' does not exist.</div>"


@pytest.mark.parametrize("current, expected", [
    (CHECKED, CHECKED[:-len("</div>")] + NOTHING_TO_STOP + "</div>"),
    (CHECKED[:-len("</div>")] + NOTHING_TO_STOP + "</div>", CHECKED[:-len("</div>")] + NOTHING_TO_STOP + "</div>"),
    (ERROR, ERROR),
    ("", "<div class='tilab-status'>Nothing is running.</div>"),
    (None, "<div class='tilab-status'>Nothing is running.</div>"),
])
def test_stop_with_no_check_running_keeps_the_line(current, expected):
    assert stop_status(current) == expected


def test_stop_during_a_check_interrupts_it():
    job = jobs_ui.start(None, JOB_NAME)  # ctx is only read for exclusive jobs
    try:
        assert "Stopping after the current item" in stop_status(CHECKED)
        assert job.interrupted
    finally:
        jobs_ui.finish(JOB_NAME, job)
    assert not jobs_ui.running(JOB_NAME)
