"""Every CLI command against hostile arguments and hostile JSON Lines: no traceback, no lost batch output.

Runs in-process (one parser, built once) so a few thousand cases take seconds. Paths used are inside the
test's temporary folder or do not exist; nothing is served, trained or downloaded. A case passes when
``main`` returns a status or argparse exits with 2, and stderr holds no traceback; a ``--batch`` run must
answer every non-blank line with exactly one JSON object, streamed (the first answers are out before the
last line is read).
"""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from hardening.hostile import json_lines, strings
from lib_ti import cli

SEED = 10


@pytest.fixture(scope="module")
def parser():
    return cli.build_parser()


@pytest.fixture()
def run(parser, monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", lambda: parser)

    def call(argv, stdin: bytes | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse refusing an argument: exit 2 with a usage line
            code = exc.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
        assert isinstance(code, int), (argv, code)
        return code, out, err

    return call


def _batch_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("command", [["emphasis", "parse", "--batch"], ["schedule", "trace", "--batch"]])
def test_batch_answers_every_line_and_never_dies(run, command):
    lines = json_lines(SEED, 1000)
    code, out, _err = run(command, stdin=b"\n".join(lines) + b"\n")
    answers = _batch_lines(out)
    assert code == 0
    assert len(answers) == sum(1 for line in lines if line.strip())
    assert all(isinstance(a, dict) and ("error" in a) != ("result" in a or "entries" in a) for a in answers)
    assert all("line" in a for a in answers if "error" in a)


def test_batch_output_is_streamed_line_by_line(monkeypatch):
    from lib_ti.commands._io import run_batch

    written: list[str] = []

    class Out(io.StringIO):
        def flush(self):
            written.append(self.getvalue())

    def lines():
        yield '"a (b:1.2)"\n'
        assert written and written[-1].count("\n") == 1, "the first answer must be out before line 2 is read"
        yield '"\\ud800"\n'

    from lib_ti.commands.emphasis import _parse_one

    out = Out()
    assert run_batch(_parse_one, stdin=lines(), stdout=out) == 0
    assert out.getvalue().count("\n") == 2


ARG_COMMANDS = [
    lambda s: ["emphasis", "parse", s],
    lambda s: ["emphasis", "inverse", s, "1.2"],
    lambda s: ["emphasis", "inverse", "cat", s],
    lambda s: ["emphasis", "apply", f"a {s} cat", "cat", "1.3"],
    lambda s: ["emphasis", "apply", "a cat", "cat", s],
    lambda s: ["emphasis", "apply", "a cat", s, "0.5", "--style", "brackets"],
    lambda s: ["schedule", "trace", s, "--max-steps", "50"],
    lambda s: ["schedule", "lint", s],
    lambda s: ["schedule", "trace", "1e-3", "--max-steps", s],
    lambda s: ["schedule", "build", "constant", "-p", f"lr={s}"],
    lambda s: ["schedule", "build", "constant", "-p", s],
]


def test_argument_mode_of_text_commands(run):
    hostile = strings(SEED, 130)
    codes = [run(make(s))[0] for make in ARG_COMMANDS for s in hostile]
    assert len(codes) >= 1400
    assert set(codes) <= {0, 1, 2}


def test_nan_weight_is_refused_everywhere(run):
    for argv in (["emphasis", "apply", "a cat", "cat", "nan"], ["emphasis", "inverse", "cat", "inf"]):
        code, out, err = run(argv)
        assert code == 2 and "finite" in err and "nan" not in out


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory):
    """A folder with the files that broke caption and embedding commands: links out, loops, FIFOs, odd encodings."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "secret.txt").write_text("root:x:0:0")
    folder = root / "set"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not really a png")
    (folder / "a.txt").write_bytes("\ufeffa cat, \ud83d\udd25".encode("utf-16-be", "surrogatepass"))
    (folder / "b.jpg").write_bytes(b"")
    (folder / "b.txt").write_bytes(b"\xff\xfe\x00\x00" + "a dog".encode("utf-32-le"))
    os.symlink(root / "secret.txt", folder / "c.txt")
    (folder / "c.png").write_bytes(b"")
    os.symlink("loop.png", folder / "loop.png")
    os.mkfifo(folder / "fifo.txt")
    (folder / "fifo.png").write_bytes(b"")
    (folder / "dir.png").mkdir()
    (root / "text.pt").write_text("hello")
    (root / "empty.safetensors").write_bytes(b"")
    return root


CAPTION_ARGS = [
    lambda f, s: ["captions", "replace", f, s, "x", "--dry-run"],
    lambda f, s: ["captions", "replace", f, s, s, "--regex", "--dry-run"],
    lambda f, s: ["captions", "prepend", f, s, "--dry-run"],
    lambda f, s: ["captions", "tags", f, "rename", s, s, "--dry-run"],
    lambda f, s: ["captions", "list", f, "contains", s],
    lambda f, s: ["captions", "replace", s, "a", "b"],
    lambda f, s: ["captions", "tokens", s],
    lambda f, s: ["check", s, "--no-save"],
    lambda f, s: ["prepare", s, s + "-out"],
    lambda f, s: ["embedding", "inspect", s],
    lambda f, s: ["embedding", "weaken", s, "--scale", "0.5"],
    lambda f, s: ["embedding", "weaken", f, "--scale", s],
    lambda f, s: ["embedding", "convert", s, "--to", "pt"],
]


def _safe_path_text(s: str, base) -> str:
    """Hostile text made into a path that cannot reach outside the test (absolute ones are re-rooted)."""
    return str(base / s.lstrip("/~\\")) if s.strip() else s


def test_file_commands_on_hostile_paths_and_files(run, hostile_tree, monkeypatch):
    monkeypatch.setenv("TILAB_DATA", str(hostile_tree / "data"))
    folder = str(hostile_tree / "set")
    hostile = strings(SEED + 1, 70)
    n = 0
    for make in CAPTION_ARGS:
        for s in hostile:
            run(make(folder, _safe_path_text(s, hostile_tree / "nowhere")))
            n += 1
    for argv in (["captions", "tags", folder, "add", "tabby"], ["captions", "replace", folder, "cat", "lynx"],
                 ["captions", "stats", folder, "--json"], ["embedding", "inspect", str(hostile_tree / "text.pt")],
                 ["embedding", "inspect", str(hostile_tree / "empty.safetensors")]):
        run(argv)
        n += 1
    assert n >= 900
    assert (hostile_tree / "secret.txt").read_text() == "root:x:0:0"


def test_serve_arguments_are_checked_before_anything_listens(run, monkeypatch, tmp_path):
    from lib_ti.ui import standalone

    seen = {}

    def build_context_only(host, port, data_dir, allowed_roots, open_browser):
        """Everything serve does before it listens: the folder guard for this host."""
        seen[host] = standalone.make_context(host, data_dir, allowed_roots or None).guard.restricted

    monkeypatch.setattr(standalone, "serve", build_context_only)
    for s in strings(SEED + 2, 80):
        run(["serve", "--port", s])
        run(["serve", "--host", s, "--data-dir", str(tmp_path / "d")])
    run(["serve", "--host", "127.0.0.1", "--data-dir", str(tmp_path / "d")])
    assert seen.pop("127.0.0.1") is False
    assert seen and all(seen.values()), "every other host listens to others: folders must be confined"


def test_train_and_sweep_refuse_hostile_arguments_without_a_traceback(run, tmp_path, monkeypatch):
    monkeypatch.setenv("TILAB_DATA", str(tmp_path / "data"))
    missing = str(tmp_path / "missing.safetensors")
    for s in strings(SEED + 3, 64)[::2]:
        run(["train", "--ckpt", missing, "--data", _safe_path_text(s, tmp_path), "--name", s, "--steps", "1"])
        run(["sweep", "--ckpt", missing, "--name", s])
