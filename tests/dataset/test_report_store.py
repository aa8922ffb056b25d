"""The report: stable versioned JSON, self-contained HTML, and the last report stored per folder."""

from __future__ import annotations

import json
import re

import pytest

from lib_ti.dataset.report import SCHEMA, to_html, to_json
from lib_ti.dataset.store import load_last_report, report_path, save_report

TOP_KEYS = {"schema", "created", "folder", "options", "features", "complete", "counts", "skipped", "verdict",
            "actions", "findings", "shared_attributes", "zoom", "images", "similarity"}
FINDING_KEYS = {"check", "id", "title", "severity", "figure", "figure_text", "threshold", "text", "images", "groups",
                "action", "attribute", "caption_note", "pairs"}  # "pairs": added within v1 (near-duplicate kinds)
SHARED_KEYS = {"kind", "description", "terms", "images", "named_in_captions", "finding"}


@pytest.mark.parametrize("name", ["person", "closeups", "shared_background"])
def test_json_schema_is_stable(check_of, name):
    report = json.loads(to_json(check_of(name)))
    assert report["schema"] == SCHEMA == "tilab.dataset-report/1"
    assert set(report) == TOP_KEYS
    assert all(set(f) == FINDING_KEYS for f in report["findings"])
    assert all(set(a) == SHARED_KEYS for a in report["shared_attributes"])
    assert all(a["kind"] in {"background", "clothing", "hair", "lighting", "zoom"} for a in report["shared_attributes"])
    assert len(report["actions"]) <= 3
    n = report["counts"]["images"]
    assert len(report["similarity"]["global"]) == n == len(report["images"])


def test_shared_attributes_carry_caption_terms(check_of):
    attrs = check_of("shared_background")["shared_attributes"]
    bg = next(a for a in attrs if a["kind"] == "background")
    assert "wall" in bg["terms"] and len(bg["images"]) == 6 and bg["named_in_captions"] is False


def test_html_is_self_contained(dataset_folder, tmp_path):
    from lib_ti.dataset.pipeline import check_folder

    res = check_folder(dataset_folder("closeups"))
    page = to_html(res.report, res.thumbs)
    assert page.count("data:image/jpeg;base64,") >= 7
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    assert "Fix before training" in page and "Replace" in page and "Zoom levels" in page


def test_store_round_trip_outside_the_dataset(tmp_path):
    data, folder = tmp_path / "data", tmp_path / "photos"
    folder.mkdir()
    assert load_last_report(data, folder) is None
    path = save_report(data, folder, {"schema": SCHEMA, "x": 1})
    assert path.parent == data / "checks" and path == report_path(data, folder)
    assert load_last_report(data, folder) == {"schema": SCHEMA, "x": 1}
    assert list(folder.iterdir()) == []
    save_report(data, folder, {"schema": SCHEMA, "x": 2})
    assert load_last_report(data, folder)["x"] == 2
    other = tmp_path / "other" / "photos"  # same folder name elsewhere: another report
    other.mkdir(parents=True)
    assert load_last_report(data, other) is None


def test_store_refuses_the_dataset_folder_itself(tmp_path):
    with pytest.raises(ValueError, match="inside the dataset folder"):
        save_report(tmp_path, tmp_path / "checks", {"x": 1})


def test_unreadable_store_reads_as_none(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    report_path(tmp_path / "d", folder).parent.mkdir(parents=True)
    report_path(tmp_path / "d", folder).write_text("{broken", encoding="utf-8")
    assert load_last_report(tmp_path / "d", folder) is None


def test_interrupted_check_keeps_finished_images_and_says_so(dataset_folder):
    from lib_ti.dataset.pipeline import check_folder
    from lib_ti.core.jobs import Job

    class StopAfterTwo(Job):
        def advance(self, n: int = 1, text: str = "") -> None:
            super().advance(n, text)
            if self.done == 2:
                self.interrupt()

    report = check_folder(dataset_folder("near_duplicates"), job=StopAfterTwo(), workers=1).report
    assert report["complete"] is False
    assert 2 <= report["counts"]["images"] < 8 and report["counts"]["files"] == 8
    assert report["verdict"]["title"]  # a partial report is still a full report


def test_worker_processes_give_the_same_report_as_threads(real_dir, monkeypatch):
    import lib_ti.dataset.pipeline as pl

    monkeypatch.setattr(pl, "PROCESS_THRESHOLD", 1)  # use processes even for 5 files
    a = pl.check_folder(real_dir("teapot"), workers=2, processes=True).report
    b = pl.check_folder(real_dir("teapot"), workers=2, processes=False).report
    assert a["findings"] == b["findings"] and a["images"] == b["images"]
