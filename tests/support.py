"""Shared test helpers: paths of the project and a drawn content picture.

Content is drawn here (the test photos may not ship with the project); styles are the public-domain paintings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO / "styles"
def draw_content(width: int = 96, height: int = 72) -> np.ndarray:
    """A small landscape: sky gradient, green hill, red house with a window, yellow sun."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(150 + 100 * y / height)
        draw.line([(0, y), (width, y)], fill=(90, 140, shade))
    draw.ellipse([-width // 3, height // 2, width + width // 3, height * 2], fill=(60, 150, 70))
    draw.rectangle([width // 3, height // 3, width // 3 + width // 4, height * 2 // 3], fill=(200, 60, 50))
    draw.rectangle([width // 3 + 5, height // 3 + 6, width // 3 + 11, height // 3 + 12], fill=(250, 240, 200))
    draw.ellipse([width * 3 // 4, 5, width * 3 // 4 + 14, 19], fill=(250, 220, 60))
    return np.asarray(image, dtype=np.float32) / 255.0
