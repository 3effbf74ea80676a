"""Edge figures of transparent renders: the engine before (the render over black, alpha dropped) and now (alpha
layer: unpremultiplied, filled, coverage-weighted, edges from the object), per method; prints a Markdown table.

.venv/bin/python scripts/alpha_edges.py   (renders the tests' 64x48 transparent ball with Cycles first)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import torch  # noqa: E402
from test_alpha import edge_report, render_transparent  # noqa: E402

from engine.imageio.images import (  # noqa: E402
    read_content,  # noqa: E402
    read_image,
    read_rgb,
)


def ratios(report: dict) -> str:
    return (f"{report['edge'] / report['band']:.2f} | {report['band'] / report['interior']:.2f} | "
            f"{report['edge'] / report['interior']:.2f}")


def main() -> int:
    torch.set_num_threads(1)
    png = render_transparent(Path(tempfile.mkdtemp(prefix="alpha-edges-")), frames=1)[0][0]
    rgb, alpha = read_image(png)
    before = rgb * alpha[..., None]  # what the engine stylized before: the render over black
    now = read_content(png)
    starry = read_rgb(REPO / "styles" / "starry_night.jpg")

    from engine.anystyle.stylizer import AnyStyleStylizer
    from engine.fast.stylize_fast import stylize_fast
    from engine.stylize import StyleTransfer

    optimizer, any_style = StyleTransfer("cpu", cache_dir=None), AnyStyleStylizer("cpu", cache_dir=None)
    methods = {
        "quality (64 px, 12 it.)": lambda image, coverage: optimizer.stylize(
            image, [starry], size_px=64, iterations=12, scales=1, coverage=coverage).image,
        "fast (starry_night)": lambda image, coverage: stylize_fast(image, "starry_night", device="cpu").image,
        "any-style": lambda image, coverage: any_style.stylize(image, [starry]).image,
    }
    print("| method | engine | edge / band | band / interior | edge / interior |\n|---|---|---|---|---|")
    print(f"| render | - | {ratios(edge_report(rgb, alpha))} |")
    for name, stylize in methods.items():
        print(f"| {name} | before | {ratios(edge_report(stylize(before, None), alpha))} |")
        print(f"| {name} | now | {ratios(edge_report(now.finish(stylize(now.rgb, now.coverage))[0], alpha))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
