"""The worker's requests, field by field: one table of fields per request type, checked by messages.decode_request.

To add a request type, add a table to REQUESTS; to add a field, add it to its table (an option of the optimizer
goes in STYLIZE_OPTIONS, which must match the keyword arguments of `StyleTransfer.stylize`; a test checks that).
A field is required or optional, may be null, has a JSON type (and for lists and objects the shape of their items),
and optionally allowed values and bounds. Fields that no table names are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .enums import CHUNKINGS, DEVICES, PRESERVE_COLORS

INT32 = 2**31 - 1


@dataclass(frozen=True)
class Field:
    """What one JSON value may be: kind is str, int, float, bool, list (of `items`), object (with the named
    `fields`) or map (any string keys, of `items`; `int_keys`: keys must be whole numbers, like region ids)."""

    kind: str
    required: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    minimum: float = -INT32
    maximum: float = INT32
    items: "Field | None" = None
    fields: Mapping[str, "Field"] | None = None
    int_keys: bool = False
    max_length: int = 4096  # strings: characters; lists and maps: entries
    min_length: int = 0


def text(required: bool = False, nullable: bool = False, choices: tuple[str, ...] = ()) -> Field:
    return Field("str", required=required, nullable=nullable, choices=choices)


def whole(minimum: float = -INT32, maximum: float = INT32, nullable: bool = False, required: bool = False) -> Field:
    return Field("int", required=required, nullable=nullable, minimum=minimum, maximum=maximum)


def number(minimum: float = -1e12, maximum: float = 1e12, nullable: bool = False) -> Field:
    return Field("float", nullable=nullable, minimum=minimum, maximum=maximum)


def flag() -> Field:
    return Field("bool")


def list_of(item: Field, nullable: bool = False, required: bool = False, max_length: int = 100_000,
            min_length: int = 0) -> Field:
    return Field("list", items=item, nullable=nullable, required=required, max_length=max_length,
                 min_length=min_length)


def record(fields: Mapping[str, Field], nullable: bool = False, required: bool = False) -> Field:
    return Field("object", fields=fields, nullable=nullable, required=required)


PATH = text()
PATHS = list_of(text())
STRENGTH = number(0.0, 1.0, nullable=True)
BLEND = list_of(number(0.0, 1e6), nullable=True)

# the engine's process-wide choices (which device, which loss network, where style targets are cached)
ENGINE = {"device": text(choices=DEVICES), "weights": text(), "pooling": text(), "cache_dir": text(nullable=True)}

# keyword arguments of StyleTransfer.stylize that a request may set (the fast path reads size_px, style_strength and
# preserve_color)
STYLIZE_OPTIONS = {
    "size_px": whole(1, 65_536, nullable=True), "iterations": whole(1, 1_000_000), "scales": whole(1, 16, nullable=True),
    "optimizer": text(), "init": text(), "seed": whole(), "style_strength": number(0.0, 1.0),
    "preserve_color": text(choices=PRESERVE_COLORS), "content_weight": number(0.0), "style_weight": number(0.0),
    "tv_weight": number(0.0), "content_layers": list_of(text(), max_length=64),
    "style_layers": list_of(text(), max_length=64), "style_layer_weights": list_of(number(0.0), nullable=True,
                                                                                     max_length=64),
    "style_loss": text(), "style_scale": number(0.0), "learning_rate": number(0.0),
    "temporal_weight": number(0.0), "full_resolution": flag(), "precision": text(nullable=True),
    "tile_px": whole(1, 65_536, nullable=True), "memory_budget_gb": number(0.0, nullable=True),
    "allow_classic_fallback": flag(),
}

# keyword arguments of engine.textures.texture.stylize_texture_files (and the objective's style_strength)
TEXTURE_OPTIONS = {
    "size_px": whole(1, 65_536, nullable=True), "iterations": whole(1, 1_000_000), "scales": whole(1, 16, nullable=True),
    "island_padding_px": whole(0, 4096), "seed": whole(), "style_strength": number(0.0, 1.0),
}

# fields of engine.fast.train.TrainSettings
TRAIN_SETTINGS = {
    "steps": whole(1, 10_000_000), "batch_size": whole(1, 1024), "crop_px": whole(16, 65_536), "variant": text(),
    "learning_rate": number(0.0), "content_weight": number(0.0), "style_weight": number(0.0), "tv_weight": number(0.0),
    "content_layers": list_of(text(), max_length=64), "style_layers": list_of(text(), max_length=64),
    "style_size_px": whole(16, 65_536), "weights": text(), "seed": whole(), "guides": list_of(text(), max_length=64),
    "keyframes": whole(0, 100_000), "keyframe_size_px": whole(16, 65_536), "keyframe_iterations": whole(1, 1_000_000),
}

# fields of engine.anystyle.tune.TuneSettings
TUNE_SETTINGS = {
    "steps": whole(1, 10_000_000), "minutes": number(0.0, nullable=True), "part": text(choices=("vector", "norms", "all")),
    "sizes_px": list_of(whole(64, 65_536), max_length=16), "crop_px": whole(64, 65_536), "learning_rate": number(0.0),
    "content_weight": number(0.0), "weights": text(), "seed": whole(), "keyframes": whole(0, 100_000),
}

REGION = record({"keep_original": flag(), "strength": STRENGTH, "styles": PATHS, "style_blend": BLEND,
                 "model": text(nullable=True), "structure": STRENGTH})
REGIONS = Field("map", items=REGION, nullable=True, int_keys=True)
FRAME = record({"content": text(required=True), "output": text(required=True), "passes": text(nullable=True),
                "number": whole()})
CHUNK = record({"first": whole(required=True), "last": whole(required=True), "chunking": text(choices=CHUNKINGS),
                "warmup": whole(0, 100_000), "resume_from": text(nullable=True)}, nullable=True)

MAX_JOB_LENGTH = 200  # a job id is a short name: every reply quotes it in full
JOB = Field("str", required=True, max_length=MAX_JOB_LENGTH)  # every request names its job; events carry the same

REQUESTS: dict[str, dict[str, Field]] = {
    "hello": {"job": JOB},
    "check": {"job": JOB, "device": ENGINE["device"], "weights": ENGINE["weights"]},
    "cancel": {"job": JOB},
    "shutdown": {"job": text(nullable=True)},
    "stylize": {
        "job": JOB, "content": text(required=True), "output": text(required=True), "styles": PATHS,
        "style_blend": BLEND, "mask": text(nullable=True), "ignore_absent_regions": flag(), "regions": REGIONS,
        "passes": text(nullable=True), "structure": number(0.0, 1.0),  # keep shapes (engine/shapes/structure.py)
        "options": record(STYLIZE_OPTIONS, nullable=True), "model": text(nullable=True),
        "preview": flag(),  # a live preview: dropped unstarted when a newer preview arrives
        **ENGINE},
    "stylize_sequence": {
        "job": JOB, "frames": list_of(FRAME, required=True, min_length=1), "chunk": CHUNK, "styles": PATHS, "style_blend": BLEND,
        "options": record(STYLIZE_OPTIONS, nullable=True), "temporal": flag(), "temporal_weight": number(0.0),
        "later_iterations": whole(1, 1_000_000, nullable=True), "long_term_frames": whole(0, 1000),
        "multipass": flag(), "flow": text(), "overwrite": flag(), "model": text(nullable=True),
        "fast_blend": number(0.0, 1.0), "regions": REGIONS, "structure": number(0.0, 1.0), **ENGINE},
    "compositor_layers": {  # engine/imageio/compositor_layers.py: the render's passes plus a Stylized layer
        "job": JOB, "passes": text(required=True), "stylized": text(required=True), "output": text(required=True),
        "objects": Field("map", items=whole(0, 1 << 24), nullable=True)},  # object name: its pass index
    "join_chunks": {"job": JOB, "output_dir": text(required=True), "overwrite": flag()},
    "stylize_texture": {
        "job": JOB, "texture": text(required=True), "output": text(required=True), "styles": PATHS,
        "style_blend": BLEND, "views": list_of(text(), nullable=True), "object_index": whole(nullable=True),
        "uv_mask": text(nullable=True), "seamless": flag(), "options": record(TEXTURE_OPTIONS, nullable=True),
        "structure": number(0.0, 1.0),  # keep shapes, from the views' Depth (Object Index, Normal) passes only
        **ENGINE},
    "style_sheet": {
        "job": JOB, "content": text(required=True), "output": text(required=True),
        "styles": list_of(text(), required=True, min_length=1), "names": list_of(text()), "size_px": whole(32, 65_536),
        "device": ENGINE["device"], "cache_dir": ENGINE["cache_dir"]},
    "train": {
        "job": JOB, "style": text(required=True), "content_dirs": list_of(text(), required=True, min_length=1),
        "output": text(required=True), "settings": record(TRAIN_SETTINGS, nullable=True),
        "device": ENGINE["device"], "checkpoint_every": whole(1, 10_000_000)},
    "tune": {  # the any-style network tuned to a painting (Tune to Painting) or to a shot (Tune to This Shot)
        "job": JOB, "style": text(required=True), "content_dirs": list_of(text(), required=True, min_length=1),
        "output": text(required=True), "settings": record(TUNE_SETTINGS, nullable=True),
        "device": ENGINE["device"], "checkpoint_every": whole(1, 10_000_000)},
}

# Fields that become required when another one is given: (request type, the field given, a list field, the key every
# item of that list then needs). A chunk of a shot finds its frames by number.
REQUIRED_WITH = [("stylize_sequence", "chunk", "frames", "number")]
