"""Manual check against the REAL host (WebUI v1.10.1) in-process: not collected by pytest (no host in CI).

Run with a real host harness (see ``docs/real-host.md``; ``H`` = the harness folder)::

    cd $H && source env.sh && $HOST_PY tests/model/host_parity_check.py

It builds tiny SD1 and SD2 models with ``sdkit``, applies the host's own hijack
(``sd_hijack.model_hijack.hijack``), registers embeddings in the host's database, and checks:
- ``SDBackend.encode_prompts`` on the hijacked model equals the host's ``cond_stage_model(prompts)`` for a table of
  prompts × (clip skip, emphasis mode) settings (prints the worst absolute difference);
- ``init_token_embeddings`` equals the host's ``encode_embedding_init_text``; ``create_embedding`` equals the
  host's ``create_embedding`` (including empty init text);
- files from ``save_embedding`` (.pt with the host's safe-unpickle check ON, .safetensors) are registered by
  ``lib_ti.host.register_saved_embedding`` inside and outside the embeddings folder and give the same
  conditioning through the host as through TI Lab.
Seen 2026-11-28: WORST 0.0, all registrations OK.
"""
import os, sys, tempfile
from pathlib import Path
os.environ["IGNORE_CMD_ARGS_ERRORS"] = "1"
REPO = Path(__file__).resolve().parents[2]
WEBUI = os.environ.get("TILAB_WEBUI", str(REPO.parent / "host" / "webui"))  # the host checkout (commit 82a973c0)
os.chdir(WEBUI); sys.path.insert(0, WEBUI)
data = tempfile.mkdtemp()
sys.argv = ["webui.py", "--use-cpu", "all", "--no-half", "--skip-torch-cuda-test", "--data-dir", data,
            "--skip-version-check"]
from modules import initialize
initialize.imports()
initialize.check_versions = lambda: None
from modules import shared, sd_hijack
from modules.textual_inversion.textual_inversion import Embedding as HostEmbedding
import torch
sys.path.insert(0, str(REPO))
from sdkit import build_tiny_sd
from lib_ti.model.backend import SDBackend
wd = Path(tempfile.mkdtemp())
prompts_table = [
    ["a photo of zzcat"], ["a (photo:1.3) of [zzcat], ((red)) hat"], ["ZZCAT Style painting of zzcat"],
    ["(zzcat:1.5) in a garden with pixl"], ["zzcat BREAK on a (beach:0.8)"],
    [", ".join(f"red{i} hat" for i in range(30)) + ", zzcat"], ["red " * 73 + "zzcat blue"],
    ["red " * 60 + ", blue zzcat green " + "red " * 20], [""],
    ["zzcat", "red " * 80 + "pixl", "(a:0.5) pixl BREAK zzcat"],
]
worst = 0.0
for kind in ("sd1", "sd2"):
    shared.cmd_opts.disable_safe_unpickle = True  # transformers' own pytorch_model.bin (torch 2.13 zip) fails it
    model = build_tiny_sd(kind, workdir=wd)
    shared.cmd_opts.disable_safe_unpickle = False  # our embedding files must pass the host's check
    sd_hijack.model_hijack.hijack(model)
    g = torch.Generator().manual_seed(3)
    vecs = {n: torch.randn(k, 32, generator=g) * 0.05 for n, k in {"zzcat": 3, "zzcat style": 2, "pixl": 1}.items()}
    db = sd_hijack.model_hijack.embedding_db
    for name, v in vecs.items():
        e = HostEmbedding(v, name); e.vectors = v.shape[0]; e.shape = v.shape[1]
        db.register_embedding(e, model)
    backend = SDBackend(model)
    print(kind, "host wrapper:", type(model.cond_stage_model).__name__, "token table wrapper:",
          type(backend._token_module).__name__)
    with torch.no_grad():  # the host's output depends on the registered vectors: the check can fail
        before = model.cond_stage_model(["a photo of zzcat"])
        vecs["zzcat"] += 0.5
        after = model.cond_stage_model(["a photo of zzcat"])
        vecs["zzcat"] -= 0.5
    assert not torch.equal(before, after)
    for clip_skip, emphasis in [(1, "Original"), (2, "Original"), (1, "No norm"), (1, "Ignore"), (1, "None")]:
        shared.opts.data["CLIP_stop_at_last_layers"] = clip_skip
        shared.opts.data["emphasis"] = emphasis
        for prompts in prompts_table:
            with torch.no_grad():
                host = model.cond_stage_model(prompts)
                ours = backend.encode_prompts(prompts, vecs, clip_skip=clip_skip, emphasis=emphasis)
            d = (host - ours).abs().max().item() if host.shape == ours.shape else float("inf")
            worst = max(worst, d)
            if d > 1e-5:
                print("MISMATCH", kind, clip_skip, emphasis, prompts[0][:40], host.shape, ours.shape, d)
    print(kind, "done; worst so far", worst)
    # init text: the host's encode_embedding_init_text vs ours
    for text, n in [("cat dog", 4), ("a red cat sitting down", 2), ("*", 1)]:
        h = model.cond_stage_model.encode_embedding_init_text(text, n)
        o = backend.init_token_embeddings(text, n)
        assert torch.equal(h.float(), o), (kind, text)
    # the host's create_embedding vs ours, and registering our files in the host's database
    from modules.textual_inversion import textual_inversion as ti
    from lib_ti import host as tihost
    from lib_ti.model.embeddings import create_embedding, save_embedding
    shared.sd_model = model
    emb_dir = Path(shared.cmd_opts.embeddings_dir); emb_dir.mkdir(parents=True, exist_ok=True)
    db.add_embedding_dir(str(emb_dir))
    for text, n in [("cat dog", 4), ("a red cat sitting down", 2), ("", 3)]:
        fn = ti.create_embedding(f"host{kind}{n}", n, True, init_text=text)
        from modules import safe
        hv = safe.unsafe_torch_load(fn, weights_only=True)["string_to_param"]["*"]  # host file fails its own check
        ov = create_embedding(backend, f"ours{kind}{n}", n, text).vec
        assert torch.equal(hv.float(), ov), (kind, text, n)
        Path(fn).unlink()
    assert tihost.host_embeddings_dir() == emb_dir
    b2 = tihost.host_sd_backend(); assert b2.family == kind and b2.checkpoint_info() == (None, None)
    for where in (emb_dir, Path(tempfile.mkdtemp())):
        for suffix in (".pt", ".safetensors"):
            e = create_embedding(backend, f"reg{kind}{where == emb_dir}", 2, "cat")
            path = save_embedding(e, where / f"{e.name}{suffix}")
            name = tihost.register_saved_embedding(path)
            got = db.word_embeddings[name]
            assert torch.equal(got.vec.float(), e.vec), (name, suffix)
            with torch.no_grad():
                assert torch.equal(model.cond_stage_model([f"a photo of {name}"]),
                                   backend.encode_prompts([f"a photo of {name}"], {name: e.vec}))
            path.unlink()
            print(kind, "registered + used", name, suffix, "inside embeddings dir" if where == emb_dir else "outside")
    sd_hijack.model_hijack.undo_hijack(model)
    db.ids_lookup.clear(); db.word_embeddings.clear()
print("WORST", worst)
