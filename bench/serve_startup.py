"""Start-up time of the standalone app: from launching `python -m lib_ti serve` to the first HTTP answer.

Prints the time for the bare Python interpreter start beside it, measured in the same run.
Run: .venv/bin/python bench/serve_startup.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_once() -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lib_ti", "serve", "--port", str(port)], cwd=REPO,
                                env={**os.environ, "TILAB_DATA": data}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read(10)
                    return time.perf_counter() - start
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError("serve exited")
                    time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait()


def main() -> None:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - t0
    runs = [serve_once() for _ in range(3)]
    print(f"python start: {bare:.2f} s   serve to first HTTP answer: min {min(runs):.2f} s, "
          f"max {max(runs):.2f} s (3 runs)   ratio {min(runs) / bare:.0f}x")


if __name__ == "__main__":
    main()
