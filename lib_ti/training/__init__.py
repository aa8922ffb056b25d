"""Textual Inversion training: dataset, cached latents, the optimisation loop, checkpoints and logs.

Only the ``N x D`` embedding vectors are trained; the model is a frozen
:class:`lib_ti.model.backend.SDBackend`. Modules here import torch lazily where it
matters, and never import the host's ``modules.*`` (that lives in :mod:`lib_ti.host`).
"""
