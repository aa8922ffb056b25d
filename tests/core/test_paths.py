"""Folders typed into the UI: unrestricted locally, allowed roots only when shared."""

import pytest

from lib_ti.core.paths import LivePathGuard, PathGuard, PathRefused, host_is_exposed, split_roots


def test_unrestricted_guard_resolves(tmp_path):
    assert PathGuard().check(str(tmp_path)) == tmp_path.resolve()


@pytest.mark.parametrize("rel,ok", [("data", True), ("data/sub/x", True), ("other", False), ("data/../other", False)])
def test_restricted_guard(tmp_path, rel, ok):
    (tmp_path / "data").mkdir()
    guard = PathGuard.restricted_to([tmp_path / "data"], "shared")
    if ok:
        assert guard.check(str(tmp_path / rel))
    else:
        with pytest.raises(PathRefused, match="outside the allowed folders"):
            guard.check(str(tmp_path / rel))


def test_symlink_escape_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "data" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(PathRefused):
        PathGuard.restricted_to([tmp_path / "data"]).check(str(tmp_path / "data" / "link"))


def test_messages_name_the_path(tmp_path):
    with pytest.raises(PathRefused, match="does not exist"):
        PathGuard().check(str(tmp_path / "missing"), must_exist=True)
    with pytest.raises(PathRefused, match="No folder given"):
        PathGuard().check("  ")


@pytest.mark.parametrize("flags,exposed", [
    ({}, False),
    ({"listen": True}, True),
    ({"share": True}, True),
    ({"server_name": "0.0.0.0"}, True),
    ({"ngrok": "token"}, True),
    ({"listen": True, "enable_insecure_extension_access": True}, False),
])
def test_host_exposure_rule(flags, exposed):
    assert host_is_exposed(flags) is exposed


def test_split_roots():
    assert split_roots("/a\n /b ;/c,") == ["/a", "/b", "/c"]


def test_live_guard_follows_its_provider(tmp_path):
    current = {"guard": PathGuard()}
    live = LivePathGuard(lambda: current["guard"])
    assert live.check(str(tmp_path)) and not live.restricted
    current["guard"] = PathGuard.restricted_to([tmp_path / "x"])
    assert live.restricted
    with pytest.raises(PathRefused):
        live.check(str(tmp_path))
