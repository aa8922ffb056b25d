"""Set up and run the real AUTOMATIC1111 WebUI v1.10.1 offline on a CPU machine, for ``tests/host/``.

Why: TI Lab's claims about the host (tab present, training on the host's model, embeddings listed and used by
txt2img, Interrupt) can only be proven inside the real host. This script makes that repeatable on a machine with
no GPU and no model downloads: the host's own code, unmodified, with tiny random checkpoints built by its own
``ldm``. Standard library only; run it with any Python 3.10/3.11.

    python tools/real_host/harness.py setup  --webui W --repos R --home H [--torch SPEC]
    python tools/real_host/harness.py launch --webui W --home H [--fresh] [--port 7860] [--checkpoint NAME]
    python tools/real_host/harness.py stop   --home H

``W`` is a checkout of the host at v1.10.1 (commit 82a973c0); ``R`` a folder holding the five repositories the
host needs, each checked out at the commit the host pins (see docs/real-host.md); ``H`` a scratch folder for the
venv, models, data and logs. Each may be given by environment variable instead: TILAB_HOST_WEBUI,
TILAB_HOST_REPOS, TILAB_HOST_HOME. Nothing is written into this repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: name under ``<webui>/repositories`` → (upstream repository, commit the host pins in modules/launch_utils.py)
REPOSITORIES = {
    "stable-diffusion-stability-ai": ("Stability-AI/stablediffusion", "cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf"),
    "generative-models": ("Stability-AI/generative-models", "45c443b316737a4ab6e40413d7794a7f5657c19f"),
    "k-diffusion": ("crowsonkb/k-diffusion", "ab527a9a6d347f364e3d185ba6d714e22d80cb3c"),
    "BLIP": ("salesforce/BLIP", "48211a1594f1321b00f14c9f7a5b4813144b2fb9"),
    "stable-diffusion-webui-assets": ("AUTOMATIC1111/stable-diffusion-webui-assets",
                                      "6f7db241d2f8ba7457bac5ca9753331f0c266917"),
}
#: a file each repository must hold (proves the folder is that repository, not an empty directory)
MARKERS = {
    "stable-diffusion-stability-ai": "ldm/models/diffusion/ddpm.py",
    "generative-models": "sgm/models/diffusion.py",
    "k-diffusion": "k_diffusion/sampling.py",
    "BLIP": "models/blip.py",
    "stable-diffusion-webui-assets": "css",
}
HOST_COMMIT = "82a973c04367123ae98bd9abdf80d9eda9b910e2"
#: launch flags: the host's code as shipped, on CPU, offline, API on (see docs/real-host.md for why each)
HOST_FLAGS = ["--skip-prepare-environment", "--skip-install", "--skip-torch-cuda-test", "--skip-version-check",
              "--use-cpu", "all", "--no-half", "--no-download-sd-model", "--do-not-download-clip", "--api",
              "--disable-safe-unpickle"]


class HarnessError(Exception):
    """A problem the user fixes (missing folder, wrong checkout); printed without a traceback."""


def folder_arg(value: str | None, env: str, what: str) -> Path:
    value = value or os.environ.get(env)
    if not value:
        raise HarnessError(f"{what} not given: pass it as an argument or set {env}.")
    return Path(value).expanduser().resolve()


def check_webui(webui: Path) -> None:
    for rel in ("launch.py", "modules/launch_utils.py", "requirements_versions.txt", "configs/v1-inference.yaml"):
        if not (webui / rel).exists():
            raise HarnessError(f"{webui} is not a WebUI checkout: {rel} is missing "
                               f"(check out commit {HOST_COMMIT[:8]} of the WebUI, tag v1.10.1).")
    if "1.10" not in (webui / "CHANGELOG.md").read_text(encoding="utf-8", errors="replace")[:200]:
        print(f"warning: {webui}/CHANGELOG.md does not start at 1.10.x; the tier is written for v1.10.1",
              file=sys.stderr)


def link_repositories(webui: Path, repos: Path | None) -> None:
    """Each of the five repositories under ``<webui>/repositories``: already there, or linked from ``repos``."""
    target = webui / "repositories"
    target.mkdir(exist_ok=True)
    missing = []
    for name, (upstream, commit) in REPOSITORIES.items():
        dest = target / name
        if (dest / MARKERS[name]).exists():
            continue
        src = repos / name if repos else None
        if src is None or not (src / MARKERS[name]).exists():
            missing.append(f"  {name}: {upstream} at {commit[:8]} (needs {MARKERS[name]})")
            continue
        if dest.is_symlink() or (dest.exists() and not any(dest.iterdir())):
            dest.unlink() if dest.is_symlink() else dest.rmdir()
        dest.symlink_to(src, target_is_directory=True)
    if missing:
        where = f"in {repos}" if repos else "(no --repos / TILAB_HOST_REPOS given)"
        raise HarnessError(f"repositories missing {where} and under {target}:\n" + "\n".join(missing))


def venv_python(home: Path) -> Path:
    return home / "venv" / "bin" / "python"


def pip(home: Path, *args: str) -> None:
    cmd = [str(venv_python(home)), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def setup_venv(webui: Path, home: Path, torch_spec: str) -> None:
    """The host's pinned stack on CPU torch (one pin changed, see docs/real-host.md) plus the two shims."""
    if not venv_python(home).exists():
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    site = subprocess.run([str(venv_python(home)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shutil.copyfile(HERE / "sitecustomize.py", Path(site) / "sitecustomize.py")
    check = subprocess.run([str(venv_python(home)), "-c", "import torch, gradio, clip"], capture_output=True)
    if check.returncode != 0:
        pip(home, torch_spec)
    version = subprocess.run([str(venv_python(home)), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Pin the installed torch (a CPU build): without it, pip swaps in a CUDA build while resolving torchvision.
    constraints = home / "constraints.txt"
    constraints.write_text(f"torch=={version}\ntorchvision==0.28.0\n", encoding="utf-8")
    reqs = home / "requirements.txt"
    lines = []
    for line in (webui / "requirements_versions.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("setuptools=="):  # 69.5.1 cannot build with the current pip toolchain
            line = "setuptools>=77.0.3,<81"
        lines.append(line)
    reqs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if check.returncode != 0:
        # clip-anytorch provides `clip`, which k-diffusion imports at start-up
        pip(home, "-c", str(constraints), "-r", str(reqs), "torchvision==0.28.0", "clip-anytorch")


def host_env(home: Path) -> dict:
    return {**os.environ, "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1"}


def cmd_setup(args) -> None:
    webui = folder_arg(args.webui, "TILAB_HOST_WEBUI", "The WebUI checkout (--webui)")
    home = folder_arg(args.home, "TILAB_HOST_HOME", "The harness folder (--home)")
    repos = args.repos or os.environ.get("TILAB_HOST_REPOS")
    check_webui(webui)
    link_repositories(webui, Path(repos).expanduser().resolve() if repos else None)
    home.mkdir(parents=True, exist_ok=True)
    setup_venv(webui, home, args.torch)
    subprocess.run([str(venv_python(home)), str(HERE / "build_models.py"), "--webui", str(webui), "--home", str(home)],
                   check=True, env=host_env(home))
    for sub in ("data/embeddings", "data/extensions"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    print(f"ready: python {Path(__file__).name} launch --webui {webui} --home {home}")


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait for the host's "Startup time:" line, then for ``url`` to answer.

    No request may reach the host before that line: the host adds its API middleware after gradio's server is
    already listening, and starlette refuses middleware once a request has built the app
    ("Cannot add middleware after an application has started"), which kills the start-up.
    """
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise HarnessError(f"the host exited with {proc.returncode}; last lines of {log}:\n"
                               + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        if time.time() > deadline:
            raise HarnessError(f"the host did not answer {url} within {timeout:.0f} s; see {log}")
        if "Startup time:" in log.read_text(errors="replace"):
            try:
                urllib.request.urlopen(url, timeout=5).read(100)
                return
            except OSError:
                pass
        time.sleep(1)


def cmd_launch(args) -> None:
    webui = folder_arg(args.webui, "TILAB_HOST_WEBUI", "The WebUI checkout (--webui)")
    home = folder_arg(args.home, "TILAB_HOST_HOME", "The harness folder (--home)")
    check_webui(webui)
    ckpts = home / "models" / "Stable-diffusion"
    if not venv_python(home).exists() or not (ckpts / args.checkpoint).exists():
        raise HarnessError(f"{home} is not set up ({ckpts / args.checkpoint} missing); run 'setup' first.")
    pidfile = home / "host.pid"
    if pidfile.exists():
        raise HarnessError(f"{pidfile} exists: a host may be running; run 'stop' first.")
    log = home / "host.log"
    data = home / "data"
    if args.fresh and data.exists():  # no extensions, embeddings or saved UI state from earlier runs
        shutil.rmtree(data)
    (data / "embeddings").mkdir(parents=True, exist_ok=True)
    probe = data / "extensions" / "tilab-probe"
    if args.probe:  # the tier's never-ending request (tests/host: Reload UI with a request left behind)
        shutil.copytree(HERE / "probe_extension", probe, dirs_exist_ok=True)
    elif probe.exists():
        shutil.rmtree(probe)
    # The checkpoint chosen at start-up: the host loads the one named in config.json, else the first it finds.
    config = data / "config.json"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'{{"sd_model_checkpoint": "{args.checkpoint}"}}\n', encoding="utf-8")
    cmd = [str(venv_python(home)), "launch.py", *HOST_FLAGS, "--port", str(args.port),
           "--data-dir", str(data), "--ckpt-dir", str(ckpts), *args.extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=webui, env=host_env(home), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    pidfile.write_text(str(proc.pid), encoding="utf-8")
    url = f"http://127.0.0.1:{args.port}"
    started = time.time()
    try:
        wait_for(f"{url}/sdapi/v1/sd-models", proc, log, args.timeout)
    except HarnessError:
        stop_pid(pidfile)
        raise
    print(f"host up after {time.time() - started:.1f} s: {url} (pid {proc.pid}, log {log})")
    print(f"run the tier: TILAB_HOST_URL={url} python -m pytest tests/host")


def stop_pid(pidfile: Path) -> bool:
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().strip())
    try:
        os.killpg(pid, signal.SIGTERM)  # the host's own process group (started with a new session)
        for _ in range(50):
            os.killpg(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pidfile.unlink()
    return True


def cmd_stop(args) -> None:
    home = folder_arg(args.home, "TILAB_HOST_HOME", "The harness folder (--home)")
    print("stopped" if stop_pid(home / "host.pid") else f"no {home / 'host.pid'}: nothing to stop")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup", help="link repositories, create the venv, build offline models")
    s.add_argument("--webui", help="WebUI v1.10.1 checkout (or TILAB_HOST_WEBUI)")
    s.add_argument("--repos", help="folder holding the five repositories (or TILAB_HOST_REPOS)")
    s.add_argument("--home", help="harness folder (or TILAB_HOST_HOME)")
    s.add_argument("--torch", default="torch==2.13.0",
                   help="pip requirement or wheel path for torch (default: torch==2.13.0; use a CPU build)")
    s.set_defaults(func=cmd_setup)
    s = sub.add_parser("launch", help="start the host in the background and wait until its API answers")
    s.add_argument("--webui", help="WebUI v1.10.1 checkout (or TILAB_HOST_WEBUI)")
    s.add_argument("--home", help="harness folder (or TILAB_HOST_HOME)")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--checkpoint", default="tiny768.safetensors", help="checkpoint loaded at start")
    s.add_argument("--timeout", type=float, default=180.0)
    s.add_argument("--fresh", action="store_true", help="start from an empty data folder (no extensions installed)")
    s.add_argument("--probe", action="store_true",
                   help="install the test-only probe extension (tools/real_host/probe_extension: a request that "
                        "never ends, for the Reload UI check)")
    s.add_argument("extra", nargs="*", help="more host flags (after --)")
    s.set_defaults(func=cmd_launch)
    s = sub.add_parser("stop", help="stop the host started by 'launch'")
    s.add_argument("--home", help="harness folder (or TILAB_HOST_HOME)")
    s.set_defaults(func=cmd_stop)
    args = ap.parse_args(argv)
    try:
        args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
