"""Per-region settings (`engine.optimizer.masks.Region`, by region id) parsed from where people give them: the command line's
ID=VALUE pairs (--region-style, --region-strength) and a worker request's `regions` object. One parser for both.

What a region's own style names depends on the method: a painting under optimization and the any-style network
(model ANY_STYLE_MODEL), a trained model's name or file under fast stylization; 'keep' leaves its pixels as they are.
"""

from __future__ import annotations

from typing import Iterable

from ..runtime.errors import EngineError
from .masks import Region

ANY_STYLE_MODEL = "any"  # the model name that picks the any-style network, which paints with any painting
KEEP = "keep"  # --region-style ID=keep: the region keeps its original pixels


def takes_paintings(model: str | None) -> bool:
    """Whether regions name paintings (optimization, the any-style network) rather than trained models."""
    return not model or model == ANY_STYLE_MODEL


def region_pairs(values: Iterable[str] | None, option: str) -> dict[int, str]:
    """{region id: value} from an option's ID=VALUE strings; refuses any other shape, naming the option."""
    pairs = {}
    for value in values or []:
        region, sep, setting = value.partition("=")
        if not sep or not region.strip().lstrip("-").isdigit() or not setting:
            raise EngineError(f"{option} '{value}' is not ID=VALUE (for example {option} 2=keep)")
        pairs[int(region)] = setting
    return pairs


def command_line_regions(region_style: Iterable[str] | None, region_strength: Iterable[str] | None,
                         model: str | None = None) -> dict[int, Region]:
    """Regions from --region-style ID=PATH|MODEL|keep and --region-strength ID=S (paintings are read here)."""
    from ..imageio.images import read_rgb

    regions = {}
    for region, setting in region_pairs(region_style, "--region-style").items():
        if setting == KEEP:
            regions[region] = Region(keep_original=True)
        elif takes_paintings(model):
            regions[region] = Region(styles=[read_rgb(setting, f"style image for region {region}")])
        else:
            regions[region] = Region(model=setting)
    for region, value in region_pairs(region_strength, "--region-strength").items():
        try:
            strength = float(value)
        except ValueError:
            raise EngineError(f"--region-strength {region}={value}: the strength must be a number") from None
        regions.setdefault(region, Region()).strength = strength
    return regions


def request_regions(request: dict, present: set[int] | None = None) -> dict[int, Region]:
    """Regions from a worker request's `regions` ({"ID": {styles, style_blend, model, strength, keep_original}});
    ids not `present` (objects out of shot in this frame) are left out."""
    from ..imageio.images import read_rgb

    paintings = takes_paintings(request.get("model"))
    regions = {}
    for region, setting in (request.get("regions") or {}).items():
        if present is not None and int(region) not in present:
            continue
        keep, strength = bool(setting.get("keep_original")), setting.get("strength")
        if not paintings:
            regions[int(region)] = Region(model=setting.get("model"), strength=strength, keep_original=keep)
            continue
        styles = [read_rgb(path, f"style image for region {region}") for path in setting.get("styles", [])]
        regions[int(region)] = Region(styles=styles or None, style_blend=setting.get("style_blend"),
                                      strength=strength, keep_original=keep)
    return regions


def request_region_structure(request: dict) -> dict[int, float]:
    """Per-object structure overrides from a worker request's `regions`."""
    return {int(i): r["structure"] for i, r in (request.get("regions") or {}).items()
            if r.get("structure") is not None}
