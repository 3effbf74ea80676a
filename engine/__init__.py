"""The neural style transfer engine: PyTorch only, no Blender.

Public entry points: `StyleTransfer` (quality stylization), the `python -m engine` command line, and the worker.
"""

__version__ = "0.1.0"
