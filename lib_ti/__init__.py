"""TI Lab core: tools to teach Stable Diffusion a concept with Textual Inversion.

This package never imports the host's ``modules.*`` except in :mod:`lib_ti.host`,
and importing it stays cheap (no torch) so the command line starts fast.
"""

__version__ = "0.1.0"
