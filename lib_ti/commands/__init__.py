"""Sub-commands of ``python -m lib_ti`` (one module each, see :mod:`lib_ti.cli`)."""
