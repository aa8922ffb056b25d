"""Which hosts count as shared, which files a shared server hands out, and paths no file system takes.

Before issue 10: ``--host ""`` (every interface) counted as local, so folders were not confined; a NUL byte in
a folder field raised ``ValueError`` (HTTP 500); ``/file=`` served the working directory and followed links.
"""

from __future__ import annotations

import os

import pytest

from lib_ti.core.paths import PathGuard, PathRefused, is_loopback, served_file


@pytest.mark.parametrize("host, local", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("my-box.lan", False),
    ("localhost.evil.com", False),
])
def test_only_loopback_is_local(host, local):
    assert is_loopback(host) is local


def test_serve_confines_folders_for_every_shared_host(tmp_path):
    from lib_ti.ui.standalone import make_context

    assert make_context("", tmp_path).guard.restricted
    assert make_context("0.0.0.0", tmp_path).guard.restricted
    assert not make_context("127.0.0.1", tmp_path).guard.restricted


@pytest.mark.parametrize("text, fragment", [
    ("{root}/a\x00b", "NUL character"),
    ("{root}/\ud800", "not a valid path"),
    ("{root}/" + "n" * 5000, "{root}"),
])
def test_paths_no_file_system_takes_are_refused_with_a_message(tmp_path, text, fragment):
    guard = PathGuard.restricted_to([tmp_path])
    with pytest.raises(PathRefused) as info:
        guard.check(text.format(root=tmp_path), must_exist=True)
    assert fragment.format(root=tmp_path) in str(info.value)


def test_a_link_inside_an_allowed_folder_pointing_out_is_refused(tmp_path):
    (tmp_path / "allowed").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "allowed" / "door")
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        PathGuard.restricted_to([tmp_path / "allowed"]).check(tmp_path / "allowed" / "door")


def test_served_file_rule(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "checks").mkdir(parents=True)
    report = data / "checks" / "r.html"
    report.write_text("ok")
    (data / "tilab-settings.json").write_text("{}")
    (data / ".hidden.png").write_bytes(b"")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"")
    os.symlink(secret, data / "checks" / "link.png")
    produced = tmp_path / "gradio-tmp" / "copy.png"
    produced.parent.mkdir()
    produced.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert served_file(str(report), [], data) == report
    assert served_file(str(produced), [str(produced)], data) == produced
    for refused in (str(data / "tilab-settings.json"), str(data / ".hidden.png"), str(data / "checks" / "link.png"),
                    "secret.png", str(secret), str(data / "checks"), f"{data}/checks/../../secret.png", "a\x00b", ""):
        assert served_file(refused, [], data) is None, refused
