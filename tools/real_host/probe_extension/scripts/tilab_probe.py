"""A test-only WebUI extension for the real-host tier (installed by ``harness.py launch --probe``; never shipped).

It adds ``GET /tilab-probe/stuck``, a request that never ends, and ``GET /tilab-probe/ping``. With them the tier
reproduces, on demand, the hang TI Lab guards against: a request left running by a client that went away blocks
the host's "Reload UI" for ever (gradio 3.41 joins uvicorn's shutdown with no timeout; issue 9, item 6).
"""

import asyncio

from modules import script_callbacks


def _routes(demo, app):  # noqa: ARG001 - host callback signature
    @app.get("/tilab-probe/ping")
    async def ping():
        return {"probe": True}

    @app.get("/tilab-probe/stuck")
    async def stuck():
        await asyncio.Event().wait()  # never set: the request never ends


script_callbacks.on_app_started(_routes)
