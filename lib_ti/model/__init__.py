"""Model side of TI Lab: one backend over the ``ldm`` LatentDiffusion the host runs.

Modules:
    loader       build a LatentDiffusion from a checkpoint file (standalone runs)
    backend      :class:`~lib_ti.model.backend.SDBackend`, the only object the training loop talks to
    conditioning the host's prompt → conditioning rules (chunks, embeddings, emphasis), reproduced
    embeddings   create / save / load / scale embeddings in every format the host reads
    inspect      norms and nearest vocabulary tokens of an embedding, as plain data
    precision    the one decision on weight dtype, autocast dtype and loss scaling
    sampling     k-diffusion preview sampler over the backend
    tokenizer_files  the CLIP tokenizer written offline from open_clip's vocabulary

Nothing here imports the host; importing this package does not import torch.
"""
