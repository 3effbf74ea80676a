"""The choices every side shares: stylization method, device, farm chunking and colour preservation.

Each is a `StrEnum` (its members compare equal to their text) with a tuple of the texts for argparse and messages.
"""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    QUALITY = "quality"  # optimization per image (Gatys)
    FAST = "fast"  # a trained feed-forward network


class Device(StrEnum):
    AUTO = "auto"  # CUDA, else Apple MPS, else the CPU
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Chunking(StrEnum):
    STRICT = "strict"  # each chunk continues the previous one's results: identical to one machine
    OVERLAP = "overlap"  # chunks start a few frames early and are crossfaded
    ANCHORS = "anchors"  # a per-shot network trained on keyframes runs every chunk


class PreserveColor(StrEnum):
    NONE = "none"
    LUMINANCE = "luminance"  # stylize the luminance, keep the content's chroma
    HISTOGRAM = "histogram"  # recolour the style to the content's colour statistics


METHODS = tuple(m.value for m in Method)
DEVICES = tuple(d.value for d in Device)
CHUNKINGS = tuple(c.value for c in Chunking)
PRESERVE_COLORS = tuple(p.value for p in PreserveColor)
