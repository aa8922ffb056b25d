"""Run by the host (``launch.py``) at start-up and after "Install from URL".

Installs only what the host's own environment lacks, and never touches torch:
the host already ships transformers, open_clip, gradio, safetensors, Pillow,
OpenCV (via facexlib), scikit-image, k-diffusion and the ``ldm`` package.
Idempotent: a package that is already importable is left alone.
"""

import launch

# import name -> pip requirement
NEEDED = {
    "imagehash": "ImageHash",
}

for module, requirement in NEEDED.items():
    if not launch.is_installed(module):
        launch.run_pip(f"install {requirement}", f"{requirement} for TI Lab")
