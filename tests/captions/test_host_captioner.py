"""The host adapter drives ``shared.interrogator`` with TI Lab's BLIP settings and restores the host's options.

No host here: a minimal ``modules`` package with the same attribute shapes stands in for it.
"""

from __future__ import annotations

import sys
import types

from lib_ti.captions.captioner import as_captioner


class _Interrogator:
    def __init__(self, opts):
        self.opts, self.calls = opts, []

    def load(self):
        self.calls.append("load")

    def generate_caption(self, pil):
        o = self.opts.data
        self.calls.append(("generate_caption", o["interrogate_clip_num_beams"], o["interrogate_clip_min_length"],
                           o["interrogate_clip_max_length"]))
        return f"an image of size {pil.size[0]}x{pil.size[1]}"

    def send_blip_to_ram(self):
        self.calls.append("send_blip_to_ram")

    def unload(self):
        self.calls.append("unload")


def test_host_blip_uses_tilab_settings_then_restores(monkeypatch):
    from PIL import Image

    opts = types.SimpleNamespace(data={"interrogate_clip_num_beams": 1, "tilab_blip_num_beams": 6,
                                       "tilab_blip_min_length": 3, "tilab_blip_max_length": 20})
    interrogator = _Interrogator(opts)
    events = []
    modules = types.ModuleType("modules")
    modules.shared = types.SimpleNamespace(opts=opts, interrogator=interrogator)
    modules.devices = types.SimpleNamespace(torch_gc=lambda: events.append("gc"))
    modules.lowvram = types.SimpleNamespace(send_everything_to_cpu=lambda: events.append("cpu"))
    for name in ("shared", "devices", "lowvram"):
        monkeypatch.setitem(sys.modules, f"modules.{name}", getattr(modules, name))
    monkeypatch.setitem(sys.modules, "modules", modules)

    from lib_ti import host

    cap = as_captioner(host.blip_captioner())  # host_context() sets ctx.get_captioner = blip_captioner
    cap.load()
    assert cap.caption(Image.new("RGB", (8, 4))) == "an image of size 8x4"
    cap.unload()
    assert events == ["cpu", "gc"]
    assert interrogator.calls == ["load", ("generate_caption", 6, 3, 20), "send_blip_to_ram", "unload"]
    # the host's own options are as they were: a set one restored, unset ones removed again
    assert opts.data["interrogate_clip_num_beams"] == 1
    assert "interrogate_clip_min_length" not in opts.data and "interrogate_clip_max_length" not in opts.data
