"""Environment shims for the real-host harness venv (installed as its ``sitecustomize.py``; never shipped).

Why a ``sitecustomize``: the fixes must reach every Python process of that venv, including the host's
``install.py`` subprocesses, and must run before the host's first ``import torchvision``. Both are deferred
to the first ``import torchvision`` (through a meta-path hook) so that pip and other tools in the venv do not
pay for importing torch.

1. PyPI's torchvision wheel links CUDA libraries the ``+cpu`` torch lacks; its import then dies registering
   ``torchvision::nms``. The two op schemas are defined first, when torch does not already have them.
2. torch >= 2.13's ``Sampler`` has no ``__init__(data_source)``; the host's own Train code calls it.
"""

import importlib.abc
import sys

_keep = []


def _prepare_torch():
    import glob
    import importlib.util
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    libs = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so")) if spec and spec.origin else []
    try:
        for lib in libs:
            torch.ops.load_library(lib)  # a torchvision whose ops load needs no shim
        loaded = bool(libs)
    except OSError:
        loaded = False
    if not loaded:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _keep.append(lib)
    from torch.utils.data import sampler

    if "__init__" not in sampler.Sampler.__dict__:
        def __init__(self, data_source=None):  # noqa: N807 - restores the pre-2.13 signature
            pass

        sampler.Sampler.__init__ = __init__


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            _prepare_torch()
        return None


sys.meta_path.insert(0, _BeforeTorchvision())
