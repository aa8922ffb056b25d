"""Import-order fixes for the CPU torch wheel beside PyPI's torchvision.

PyPI's torchvision wheel links CUDA libraries that the ``+cpu`` torch wheel lacks,
so its C extension fails to load and ``import torchvision`` then dies registering
``torchvision::nms``. transformers, open_clip, ldm and k-diffusion all import
torchvision, so :func:`ensure_torchvision` must run before any of them. Inside the
host (a CUDA torch with a matching torchvision) the first import simply succeeds.
"""

from __future__ import annotations

import sys

_done = False


def ensure_torchvision() -> None:
    """Make ``import torchvision`` work; a no-op when it already does."""
    global _done
    if _done:
        return
    try:
        import torchvision  # noqa: F401
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torch

        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _keep.append(lib)
        import torchvision  # noqa: F401
    except ImportError:
        pass  # torchvision is optional for TI Lab itself
    _done = True


_keep: list = []
