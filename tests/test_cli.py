"""The command-line contract other tools rely on (JSON Lines in, JSON Lines out)."""

import json
import subprocess
import sys
from pathlib import Path

from host_reference import load_reference

REPO = Path(__file__).resolve().parents[1]


def run(args, stdin=""):
    return subprocess.run([sys.executable, "-m", "lib_ti", *args], input=stdin, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_commands():
    out = run(["--help"])
    assert out.returncode == 0
    for name in ("serve", "schedule", "emphasis"):
        assert name in out.stdout


def test_emphasis_parse_batch_matches_reference():
    cases = load_reference()["attention"]
    lines = "".join(json.dumps(c["prompt"]) + "\n" for c in cases) + "not json\n42\n"
    out = run(["emphasis", "parse", "--batch"], lines)
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == len(cases) + 2
    for case, got in zip(cases, results):
        if "error" in case:
            assert "error" in got
        else:
            assert [t for t, _ in got["result"]] == [t for t, _ in case["result"]]
            assert all(abs(a[1] - b[1]) <= 1e-9 * max(1, abs(b[1])) for a, b in zip(got["result"], case["result"]))
    assert "error" in results[-2] and "error" in results[-1]


def test_schedule_trace_batch_matches_reference():
    cases = load_reference()["schedule"]
    lines = "".join(json.dumps({k: c[k] for k in ("schedule", "max_steps", "start_step")}) + "\n" for c in cases)
    out = run(["schedule", "trace", "--batch"], lines)
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == len(cases)
    for case, got in zip(cases, results):
        if "error" in case:
            assert "error" in got
        else:
            assert {k: got[k] for k in ("entries", "updates", "segments")} == \
                   {k: case[k] for k in ("entries", "updates", "segments")}


def test_schedule_lint_and_build():
    out = run(["schedule", "lint", "0.1:1e3"])
    assert out.returncode == 1 and "character 5" in out.stdout and "    ^" in out.stdout
    out = run(["schedule", "build", "exponential", "-p", "steps=300", "-p", "stages=3", "-p", "start=0.01",
               "-p", "floor=0.0001"])
    assert out.stdout.strip() == "1e-2:100,1e-3:200,1e-4"


def test_emphasis_inverse_and_apply():
    inv = json.loads(run(["emphasis", "inverse", "x", "0.62"]).stdout)
    assert inv["brackets"] == "[[[[[x]]]]]" and inv["explicit"] == "(x:0.62)"
    assert run(["emphasis", "apply", "a photo of name", "name", "0.75"]).stdout.strip() == "a photo of (name:0.75)"


def test_train_help_is_derived_from_the_config():
    from lib_ti.training.config import defaults, specs

    out = run(["train", "--help"]).stdout
    assert "(default: None)" not in out and "required:" in out
    required = out.split("required:")[1].split("\n\n")[0]
    assert "--name" in required and "--data" in required
    flat = " ".join(out.split())
    for name, spec in specs().items():
        if spec.cli is None:
            continue
        flag = spec.cli or "--" + name.replace("_", "-")
        assert flag in out, flag
        assert " ".join(spec.help.split()) in flat, name
    assert flat.count("(default: 500)") == 3 and f"(default: {defaults()['learn_rate']!r})" in flat


def test_train_dry_run_plans_into_the_app_data_folder_and_lists_every_problem(tmp_path):
    env_args = ["--data-root", str(tmp_path / "tilab")]
    photos = tmp_path / "photos"
    photos.mkdir()
    out = run(["train", "--dry-run", "--name", "zork", "--data", str(photos), *env_args])
    assert out.returncode == 0, out.stderr
    assert "New embedding 'zork' from step 0" in out.stderr
    (tmp_path / "tilab" / "training" / "zork").mkdir(parents=True)
    bad = run(["train", "--dry-run", "--name", "zork", "--data", str(tmp_path / "nope"), "--width", "60",
               "--lr", "0.1:1e3", "--mode", "resume", *env_args])
    assert bad.returncode == 2
    for part in ("Nothing to resume", "Width", "Learning rate", "does not exist"):
        assert part in bad.stderr


def test_schedule_build_help_lists_preset_parameters():
    from lib_ti.schedule.presets import PRESETS

    out = run(["schedule", "build", "--help"]).stdout
    for preset in PRESETS:
        assert f"{preset.key}: {preset.title}" in out
        for param in preset.params:
            assert f"{param.name}={param.default}" in out


def test_sweep_command_exists_and_names_what_is_missing(tmp_path):
    assert "--checkpoint" in run(["sweep", "--help"]).stdout
    out = run(["sweep", "--name", "ghost", "--data-root", str(tmp_path)])
    assert out.returncode == 2 and "No runs of 'ghost'" in out.stderr
