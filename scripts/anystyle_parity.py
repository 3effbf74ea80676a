"""Any-style evidence: our torch network against onnxruntime on the shipped ONNX files, its speed, 4K tiling.

Parity runs both on the same 256 px painting and 384 px content (the ONNX files' fixed sizes) and prints the mean
absolute differences (pixels on a 0-1 scale). Speed: start-up, a style vector, a 1920x1080 frame (style vector
cached), and the peer's own onnxruntime pass at 384 px in the same run. `--4k` adds a 3840x2160 frame, tiled, against
the same frame in one pass; `--sheet PATH [--content RENDER]` writes a contact sheet (contents x paintings).
Usage: python scripts/anystyle_parity.py [--4k] [--drawn] [--speed-only] [--sheet docs/images/anystyle_sheet.jpg]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support import draw_content  # noqa: E402

from bench import sheets  # noqa: E402
from engine.anystyle import AnyStyleStylizer  # noqa: E402
from engine.anystyle.weights import PREDICT_FILE, TRANSFORM_FILE, weights_dir  # noqa: E402
from engine.fast.infer import OVERLAP_PX, STATISTICS_PX  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.imageio.tensors import resize_image, to_numpy, to_tensor  # noqa: E402
from engine.optimizer.tiling import tile_boxes  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"
STYLES = sorted((REPO / "styles").glob("*.jpg"))


def square(image: np.ndarray, side_px: int) -> np.ndarray:
    """The centred square of an image at `side_px` (how the ONNX files take their inputs)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return to_numpy(resize_image(to_tensor(image[top:top + side, left:left + side], torch.device("cpu")), side_px, side_px))


def contents(drawn: bool = False) -> dict[str, np.ndarray]:
    """The test photos (where present) and the shipped paintings as content; the drawn picture on request (its flat
    gradients are where int8 activations band most: not a fair measure of the mapping)."""
    found = {p.stem: read_rgb(p) for p in sorted(PHOTOS.glob("*.jpg"))} if PHOTOS.is_dir() else {}
    found |= {p.stem: read_rgb(p) for p in STYLES}
    return found | ({"drawn": draw_content(384, 384)} if drawn else {})


def sessions(float_activations: bool = False):
    """onnxruntime sessions of the style predictor and the transformer, as shipped (int8 activations), or with every
    activation's QuantizeLinear/DequantizeLinear pair made an Identity (weights still dequantized from int8)."""
    import onnx
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    models = []
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        model = onnx.load(str(weights_dir() / name))
        if float_activations:
            graph = model.graph
            stored = {init.name for init in graph.initializer}
            nodes = [onnx.helper.make_node("Identity", [n.input[0]], [n.output[0]])
                     if n.op_type == "QuantizeLinear" or (n.op_type == "DequantizeLinear" and n.input[0] not in stored)
                     else n for n in graph.node]
            del graph.node[:], graph.value_info[:]
            graph.node.extend(nodes)
        models.append(onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                   providers=["CPUExecutionProvider"]))
    return models


@torch.inference_mode()
def parity(stylizer: AnyStyleStylizer, float_activations: bool = False, drawn: bool = False) -> dict[str, float]:
    """Mean absolute differences, ours vs onnxruntime, over every content x painting pair (`drawn`: over the tests'
    drawn picture x every painting instead)."""
    predict, transform = sessions(float_activations)
    rows = {"vector": [], "vector_scale": [], "image_same_vector": [], "image": [], "image_max": []}
    for style_path in STYLES:
        style = square(read_rgb(style_path), 256)
        theirs_vector = predict.run(None, {"style_image": style[None]})[0].reshape(-1)
        ours_vector = stylizer.predictor(to_tensor(style, torch.device("cpu")))[0].numpy()
        rows["vector"].append(np.abs(ours_vector - theirs_vector).mean())
        rows["vector_scale"].append(np.abs(theirs_vector).mean())
        for name, content in contents(drawn).items():
            if name == style_path.stem or drawn != (name == "drawn"):
                continue
            content = square(content, 384)
            names = [i.name for i in transform.get_inputs()]
            theirs = transform.run(None, {names[0]: content[None], names[1]: theirs_vector.reshape(1, 1, 1, -1)})[0][0]
            pixels = to_tensor(content, torch.device("cpu"))
            stylizer.network.set_style(torch.from_numpy(theirs_vector))
            same_vector = to_numpy(stylizer.network(pixels))
            stylizer.network.set_style(torch.from_numpy(ours_vector))
            ours = to_numpy(stylizer.network(pixels))
            rows["image_same_vector"].append(np.abs(same_vector - theirs).mean())
            rows["image"].append(np.abs(ours - theirs).mean())
            rows["image_max"].append(np.abs(ours - theirs).max())
    return {key: float(np.mean(values)) if key != "image_max" else float(np.max(values)) for key, values in rows.items()}


def best_of(runs: int, job) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of the fastest of `runs` runs. On a machine shared
    with other jobs the CPU seconds are the steadier figure: on an idle machine the wall time is at most that."""
    times = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        job()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(times)


def speed(stylizer: AnyStyleStylizer, started_s: float, four_k: bool) -> None:
    photo = next(iter(contents().values()))
    painting = read_rgb(STYLES[0])
    vector_s = best_of(1, lambda: stylizer.style_vector(painting, cache=False))
    frame = to_numpy(resize_image(to_tensor(photo, torch.device("cpu")), 1080, 1920))
    vector = stylizer.style_vector(painting)
    stylizer.stylize(frame, [vector])  # warm-up
    frame_s = best_of(3, lambda: stylizer.stylize(frame, [vector]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: no waiting on a busy second core, so its CPU seconds are the work itself
    single_s = best_of(3, lambda: stylizer.stylize(frame, [vector]))
    torch.set_num_threads(threads)
    predict, transform = sessions()
    small, style = square(photo, 384)[None], square(painting, 256)[None]
    names = [i.name for i in transform.get_inputs()]

    def peer():
        theirs_vector = predict.run(None, {"style_image": style})[0]
        transform.run(None, {names[0]: small, names[1]: theirs_vector})

    peer_s = best_of(3, peer)
    print(f"\n| step (CPU, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores) | wall s | CPU s |\n|---|---|---|")
    print(f"| start-up (read and dequantize both ONNX files, build the networks) | {started_s:.2f} | |")
    print(f"| style vector of a painting (256 px; cached afterwards) | {vector_s[0]:.2f} | {vector_s[1]:.2f} |")
    print(f"| 1920x1080 frame, full resolution, style vector cached (best of 3) | {frame_s[0]:.2f} | "
          f"{frame_s[1]:.2f} |")
    print(f"| the same frame on one thread | {single_s[0]:.2f} | {single_s[1]:.2f} |")
    print(f"| the peer's onnxruntime pass at 384x384 (vector + transform, same run) | {peer_s[0]:.2f} | "
          f"{peer_s[1]:.2f} |")
    if four_k:
        big = to_numpy(resize_image(to_tensor(photo, torch.device("cpu")), 2160, 3840))
        tiled = []
        tiled_s = best_of(1, lambda: tiled.append(stylizer.stylize(big, [vector], tile_px=2048).image))
        whole = stylizer.stylize(big, [vector], tile_px=4096).image
        difference = np.abs(tiled[0] - whole).mean(-1)
        seams = np.zeros(difference.shape, bool)  # the feathered bands where tiles overlap
        for box in tile_boxes(*difference.shape, 2048, OVERLAP_PX):
            for start, end, axis in ((box.y, box.y + box.height, 0), (box.x, box.x + box.width, 1)):
                for edge in (start, end):
                    if 0 < edge < difference.shape[axis]:
                        band = slice(max(edge - OVERLAP_PX, 0), edge + OVERLAP_PX)
                        seams[(band, slice(None)) if axis == 0 else (slice(None), band)] = True
        print(f"| 3840x2160 frame in 2048 px tiles | {tiled_s[0]:.2f} | {tiled_s[1]:.2f} |")
        print(f"\n4K in tiles vs in one pass: mean |difference| {difference.mean():.4f} (0-1 pixels); in the bands "
              f"where tiles meet {difference[seams].mean():.4f}, elsewhere {difference[~seams].mean():.4f} (a seam "
              f"would raise the first). The difference is the tiles' shared instance-norm statistics, taken from the "
              f"frame at {STATISTICS_PX} px, against one pass's own at full size.")


def contact_sheet(stylizer: AnyStyleStylizer, path: Path, extra: list[Path]) -> None:
    """One row per content (the Tübingen photo where present, then `extra`): the content, then each shipped
    painting's any-style result."""
    rows = []
    chosen = {"tubingen": read_rgb(PHOTOS / "tubingen.jpg")} if (PHOTOS / "tubingen.jpg").is_file() else {}
    for name, content in (chosen | {p.stem: read_rgb(p) for p in extra}).items():
        content = to_numpy(resize_image(to_tensor(content, torch.device("cpu")), *fit(content, 320)))
        panels = [sheets.caption(sheets.fit(content, 240), name)] + [
            sheets.caption(sheets.fit(stylizer.stylize(content, [read_rgb(p)]).image, 240), f"any-style: {p.stem}")
            for p in STYLES]
        rows.append(sheets.join(panels))
    sheets.save(sheets.join(rows, vertical=True), path, quality=85)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def fit(image: np.ndarray, height_px: int) -> tuple[int, int]:
    return height_px, round(image.shape[1] * height_px / image.shape[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--4k", dest="four_k", action="store_true", help="also a 3840x2160 frame, tiled vs whole")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet (contents x paintings) here")
    parser.add_argument("--content", type=Path, action="append", default=[],
                        help="another content for the sheet (e.g. a Blender render)")
    parser.add_argument("--drawn", action="store_true", help="parity on the tests' drawn picture too")
    parser.add_argument("--speed-only", action="store_true", help="skip the parity tables")
    args = parser.parse_args()
    started = time.perf_counter()
    stylizer = AnyStyleStylizer("cpu", cache_dir=None)
    started_s = time.perf_counter() - started
    if not args.speed_only:
        shipped, exact = parity(stylizer), parity(stylizer, float_activations=True)
        print("| ours vs onnxruntime, mean abs difference (painting 256 px, content 384 px; each photo and painting x "
              "painting) | shipped graph (int8 activations) | same graph, float activations |\n|---|---|---|")
        print(f"| style vector (100 numbers; mean magnitude {shipped['vector_scale']:.3f}) | {shipped['vector']:.4f} | "
              f"{exact['vector']:.1e} |")
        print(f"| image, both given onnxruntime's style vector (0-1 pixels) | {shipped['image_same_vector']:.4f} | "
              f"{exact['image_same_vector']:.1e} |")
        print(f"| image, each with its own style vector (0-1 pixels) | {shipped['image']:.4f} | {exact['image']:.1e} |")
        print(f"| largest single pixel difference | {shipped['image_max']:.3f} | {exact['image_max']:.1e} |")
        if args.drawn:
            drawn = parity(stylizer, drawn=True)
            print(f"\nThe tests' drawn picture (flat gradients) x every painting, shipped graph: image "
                  f"{drawn['image_same_vector']:.4f} with onnxruntime's vector, {drawn['image']:.4f} with each its own.")
    speed(stylizer, started_s, args.four_k)
    if args.sheet:
        contact_sheet(stylizer, args.sheet, args.content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
