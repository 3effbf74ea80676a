"""Pictures in and out: image files and EXR channels (`images`), render passes and label maps (`passes`), alpha
maths (`alpha`), colour (`color`), the compositor's layered EXR, and pixels as tensors (`tensors`).

The names people import, `from engine.imageio import read_rgb, write_image`, are re-exported here.
"""

from .images import read_image, read_rgb, write_image

__all__ = ["read_image", "read_rgb", "write_image"]
