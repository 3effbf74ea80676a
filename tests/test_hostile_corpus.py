"""The hostile corpus, through the command line and the worker: every input given again as the output (as is,
through '..', a symlink and a hard link), zero, negative and non-finite numbers for every numeric option (read from
the parsers and the worker's schema, so a new option is covered without editing this file), animated, CMYK and
16-bit images and a style that is a folder. Each case succeeds or gets one line and exit 2 (the worker: one
bad_input reply), writes nothing, and no input file's bytes change. The batch entry's share (it runs in Blender):
tests/blender/test_batch_guards.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import REPO, STYLES, draw_content, write_synthetic_sequence

from engine.cli import build_parser, main
from engine.imageio.images import read_image
from protocol import REQUESTS, numbers

STARRY = str(STYLES / "starry_night.jpg")
OUTPUT_OPTIONS = {"output", "plot", "curves", "output_dir"}
# every string option of every subcommand is an input path, or listed here as not one (a new option must be sorted)
NOT_INPUTS = {"optimizer", "preserve_color", "region_strength", "pooling", "style_loss", "content_layers",
              "style_layers", "device", "precision", "fallback", "cache_dir", "flow", "chunk", "chunking",
              "resume_from", "variant", "guides", "mask_kind", "command", "weights", "model"}
# numeric options that take 0, and what 0 means there (a new option that takes 0 must say so here)
ZERO_MEANS = {"seed": "seed 0", "strength": "no style", "content_weight": "no content term",
              "style_weight": "no style term", "tv_weight": "no smoothing", "style_layer_weights": "layer off",
              "style_weights": "style off", "structure": "off", "save_every": "never", "temporal_weight": "off",
              "long_term": "no long-term frames",
              "fast_blend": "no blend", "warmup": "no warm-up", "island_padding": "no padding",
              "object_index": "object 0", "keyframes": "not per-shot", "checkpoint_every": "never"}


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def write_png16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the last axis), written byte by byte."""
    a = np.asarray(pixels, np.uint16)
    a = a[..., None] if a.ndim == 2 else a
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in a)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    head = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 16, {1: 0, 2: 4, 3: 2, 4: 6}[a.shape[2]], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) +
                     chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    content = (draw_content(64, 48) * 255).astype(np.uint8)
    for name in ("content.png", "style.png", "init.png", "texture.png", "mask.png", "uv.png"):
        Image.fromarray(content).save(inputs / name)
    (inputs / "passes.exr").write_bytes((STYLES / "starry_night.jpg").read_bytes()[:64])  # read after the guard
    (inputs / "model.safetensors").write_bytes(b"not read: the guard comes first")
    (inputs / "weights.pth").write_bytes(b"not read: the guard comes first")
    write_synthetic_sequence(inputs / "frames", frames=2)
    write_synthetic_sequence(inputs / "views", frames=1)
    (inputs / "styles").mkdir()
    Image.fromarray(content).save(inputs / "styles" / "one.png")
    frames = [Image.fromarray(np.roll(content, 8 * i, axis=1)) for i in range(3)]
    frames[0].save(inputs / "animated.gif", save_all=True, append_images=frames[1:])
    frames[0].save(inputs / "pages.tif", save_all=True, append_images=frames[1:])
    Image.fromarray(content).convert("CMYK").save(inputs / "cmyk.tif")
    grey = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    write_png16(inputs / "grey_alpha16.png", np.dstack([grey, np.full_like(grey, 40000)]))
    write_png16(inputs / "rgb16.png", np.dstack([grey, grey[::-1], grey[:, ::-1]]))
    (inputs / "as_frame").mkdir()
    Image.fromarray(content).save(inputs / "as_frame" / "frame_0000.png")
    (root / "links").mkdir()
    (root / "out").mkdir()
    return root


def spellings(path: Path, root: Path) -> dict[str, Path]:
    """The same file under other names: through '..', a symlink and a hard link."""
    flat = "_".join(path.relative_to(root).parts)
    link, hard = root / "links" / f"sym_{flat}", root / "links" / f"hard_{flat}"
    if not link.is_symlink():
        link.symlink_to(path)
    if path.is_file() and not hard.exists():
        os.link(path, hard)
    names = {"as given": path, "through ..": path.parent / ".." / path.parent.name / path.name, "symlink": link}
    if path.is_file():
        names["hard link"] = hard
    return names


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def base_arguments(root: Path) -> dict[str, list]:
    """A valid command line per subcommand that writes a file (each input option is then given as the output)."""
    i, out = root / "in", root / "out"
    quick = ["--size", "32", "--iterations", "1", "--scales", "1", "--quiet", "--no-cache", "--device", "cpu"]
    return {
        "stylize": ["stylize", "--content", i / "content.png", "--style", STARRY, "--output", out / "a.png", *quick],
        "sequence": ["sequence", "--frames", i / "frames", "--style", STARRY, "--output-dir", out, *quick],
        "texture": ["texture", "--texture", i / "texture.png", "--style", STARRY, "--output", out / "t.png", "--quiet"],
        "train": ["train", "--style", i / "style.png", "--content-dir", i / "frames", "--output",
                  out / "m.safetensors"],
        "metrics": ["metrics", "--passes", i / "frames", "--sequence", f"a={i / 'frames'}", "--plot", out / "p.png"],
        "sheet": ["sheet", "--content", i / "content.png", "--style-dir", i / "styles", "--output", out / "s.png"],
    }


INPUT_VALUES = {"content": "in/content.png", "style": "in/style.png", "mask": "in/mask.png", "passes": "in/passes.exr",
                "init": "in/init.png", "texture": "in/texture.png", "uv_mask": "in/uv.png", "views": "in/views",
                "frames": "in/frames", "content_dir": "in/frames", "region_style": "in/style.png",
                "render": "in/frames", "sequence": "in/frames", "style_dir": "in/styles", "reference": "in/frames"}


def _set(args: list, option: str, value) -> list:
    """`args` with `option` given `value` (replacing it when present)."""
    args = list(args)
    if option in args:
        args[args.index(option) + 1] = value
        return args
    return [*args, option, value]


def path_cases(root: Path):
    """(subcommand, input option, its file, spelling, command line with that file again as the output)."""
    for command, parser in subcommands().items():
        base = base_arguments(root).get(command)
        if base is None:
            continue
        out_action = next(a for a in parser._actions if a.dest in OUTPUT_OPTIONS)
        for action in parser._actions:
            if action.dest not in INPUT_VALUES or not action.option_strings or action.choices:
                continue
            if out_action.dest == "output_dir" and action.dest not in ("frames", "passes"):
                continue  # a sequence's other inputs are checked against each output frame (below)
            target = root / INPUT_VALUES[action.dest]
            victims = [target] if target.is_file() else sorted(p for p in target.iterdir() if p.is_file())[:1]
            if out_action.dest == "output_dir":  # a sequence writes into the folder of its frames or passes
                victims = [target if target.is_dir() else target.parent]
            for victim in victims:
                value = victim if target.is_file() or out_action.dest == "output_dir" else target
                if action.dest == "region_style":
                    value = f"1={victim}"
                elif action.dest == "sequence":
                    value = f"a={target}"
                for spelling, name in spellings(victim, root).items():
                    args = _set(_set(base, action.option_strings[0], value), out_action.option_strings[0], name)
                    yield command, action.option_strings[0], victim, spelling, args
                    if command == "stylize" and action.dest in ("content", "style", "mask"):  # fast, any painting
                        yield command, f"--model any {action.option_strings[0]}", victim, spelling, [*args, "--model",
                                                                                                   "any"]
    frame = sorted((root / "in" / "frames").glob("*.png"))[0]
    style = root / "in" / "as_frame" / frame.name  # a style where the sequence would write that frame
    yield ("sequence", "--style named like an output frame", style, "as given",
           _set(_set(base_arguments(root)["sequence"], "--style", style), "--output-dir", style.parent))


def test_every_string_option_is_sorted_into_inputs_or_not():
    for command, parser in subcommands().items():
        for action in parser._actions:
            if action.option_strings and action.type is None and action.nargs != 0 and not action.choices and \
                    action.dest not in ("help", "version"):
                assert action.dest in INPUT_VALUES or action.dest in NOT_INPUTS or action.dest in OUTPUT_OPTIONS, \
                    f"{command} {action.option_strings[0]}: an input path (add to INPUT_VALUES) or not (NOT_INPUTS)?"


def test_every_input_given_as_the_output_is_refused_and_untouched(corpus, capsys):
    before = _checksums(corpus / "in")
    cases = list(path_cases(corpus))
    assert {c[0] for c in cases} == set(base_arguments(corpus))
    for command, option, victim, spelling, args in cases:
        code, err = run_cli(args, capsys)
        where = f"{command} {option} {spelling}"
        assert code == 2, f"{where}: exit {code}: {err}"
        assert len(err.strip().splitlines()) == 1 and "destroy" in err, f"{where}: {err}"
        assert not any((corpus / "out").iterdir()), f"{where} wrote output"
    assert _checksums(corpus / "in") == before


def test_farm_encode_refuses_a_frame_as_the_video(corpus):
    before = _checksums(corpus / "in")
    frame = sorted((corpus / "in" / "frames").glob("*.png"))[0]
    for spelling, name in spellings(frame, corpus).items():
        done = subprocess.run([sys.executable, "-m", "farm.encode", "--frames", str(frame.parent), "--output",
                               str(name)], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "would destroy" in done.stderr, (spelling, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    assert _checksums(corpus / "in") == before


def numeric_actions():
    for command, parser in subcommands().items():
        for action in parser._actions:
            if action.type in (int, float):
                pytest.fail(f"{command} {action.option_strings[0]} is a plain {action.type.__name__}; give it a "
                            "range with protocol.numbers")
            if numbers.is_checked(action.type):
                yield command, action


def test_every_numeric_option_refuses_negative_and_non_finite_numbers_and_documents_zero(corpus, capsys):
    actions = list(numeric_actions())
    assert {c for c, _ in actions} >= {"stylize", "sequence", "texture", "train", "sheet"}
    for command, action in actions:
        option = action.option_strings[0]
        for value in ("-1", "nan", "inf", "-inf", "x"):
            code, err = run_cli([command, option, value], capsys)
            assert code == 2 and f"argument {option}" in err and len(err.strip().splitlines()) == 1, \
                f"{command} {option} {value}: {err}"
        try:
            accepted = action.type("0") == 0
        except argparse.ArgumentTypeError as exc:
            accepted = False
            assert "out of range: give" in str(exc)
        assert not accepted or action.dest in ZERO_MEANS, f"{command} {option} takes 0: say what it means"
    assert not any((corpus / "out").iterdir())


def test_size_zero_is_refused_not_512(corpus, capsys):
    code, err = run_cli([*base_arguments(corpus)["stylize"], "--size", "0"], capsys)
    assert code == 2 and "argument --size: 0 is out of range: give a whole number between 16 and 65,536" in err


def worker_cases(root: Path) -> list[dict]:
    i, out = root / "in", root / "out"
    content, frames = i / "content.png", sorted((i / "frames").glob("*.png"))
    cases = []
    for field, victim in (("content", content), ("mask", i / "mask.png"), ("passes", i / "passes.exr")):
        for spelling, name in spellings(victim, root).items():
            cases.append({"type": "stylize", "job": f"stylize {field} {spelling}", "content": str(content),
                          "styles": [STARRY], field: str(victim), "output": str(name)})
    cases += [
        {"type": "stylize", "job": "style as output", "content": str(content), "styles": [str(i / "style.png")],
         "output": str(spellings(i / "style.png", root)["symlink"])},
        {"type": "stylize", "job": "init as output", "content": str(content), "styles": [STARRY],
         "options": {"init": str(i / "init.png")}, "output": str(i / "init.png")},
        {"type": "stylize", "job": "region style as output", "content": str(content), "styles": [STARRY],
         "mask": str(i / "mask.png"), "regions": {"1": {"styles": [str(i / "style.png")]}},
         "output": str(i / "style.png")},
        {"type": "stylize_sequence", "job": "frames into their own folder", "styles": [STARRY],
         "frames": [{"content": str(f), "output": str(f.with_name(f"x_{f.name}"))} for f in frames]},
        {"type": "stylize_sequence", "job": "frame over the next frame", "styles": [STARRY],
         "frames": [{"content": str(frames[0]), "output": str(frames[1])}]},
        {"type": "stylize_texture", "job": "texture as output", "texture": str(i / "texture.png"), "styles": [STARRY],
         "output": str(spellings(i / "texture.png", root)["through .."])},
        {"type": "stylize_texture", "job": "uv mask as output", "texture": str(i / "texture.png"), "styles": [STARRY],
         "uv_mask": str(i / "uv.png"), "output": str(i / "uv.png")},
        {"type": "style_sheet", "job": "sheet over its content", "content": str(content), "styles": [STARRY],
         "output": str(content)},
        {"type": "train", "job": "model over its style", "style": str(i / "style.png"),
         "content_dirs": [str(i / "frames")], "output": str(i / "style.png")},
    ]
    return cases


def schema_number_cases(root: Path) -> list[dict]:
    """Each numeric field of each request (and of its options) just outside its range."""
    cases = []
    for kind, table in REQUESTS.items():
        if kind in ("hello", "check", "cancel", "shutdown", "join_chunks"):
            continue
        nested = {name: field.fields for name, field in table.items() if field.kind == "object" and field.fields}
        for where, fields in [(None, table), *nested.items()]:
            for name, field in fields.items():
                if field.kind not in ("int", "float") or field.minimum <= -2**31 + 1:
                    continue
                value = field.minimum - 1
                request = {"type": kind, "job": f"{kind} {where or ''}.{name}={value}",
                           "output": str(root / "out" / "w.png")}
                request.update({f: "x" for f, spec in table.items() if spec.required and f not in ("job", "output")})
                if kind == "stylize_sequence":
                    request["frames"] = [{"content": "x.png", "output": str(root / "out" / "f.png")}]
                if kind in ("style_sheet",):
                    request["styles"] = [STARRY]
                if kind == "train":
                    request["content_dirs"] = [str(root / "in" / "frames")]
                if where is None:
                    request[name] = value
                else:
                    request[where] = {name: value}
                cases.append(request)
    return cases


def test_the_worker_refuses_each_case_with_one_bad_input_reply(corpus):
    before = _checksums(corpus / "in")
    requests = worker_cases(corpus) + schema_number_cases(corpus)
    assert len({r["job"] for r in requests}) == len(requests)
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    replies: dict[str, dict] = {}
    try:
        worker.stdin.write("".join(json.dumps({"v": 1, **r}) + "\n" for r in requests))
        worker.stdin.flush()
        while len(replies) < len(requests):
            event = json.loads(worker.stdout.readline())
            if event["type"] in ("result", "error", "cancelled"):
                assert event["job"] not in replies, f"two replies to {event['job']}"
                replies[event["job"]] = event
        worker.stdin.write(json.dumps({"v": 1, "type": "shutdown"}) + "\n")
        worker.stdin.close()
        assert not [line for line in worker.stdout if json.loads(line)["type"] in ("result", "error")]
        assert worker.wait(timeout=120) == 0
    finally:
        worker.kill()
    for request in requests:
        reply = replies.get(request["job"])
        assert reply is not None and reply["type"] == "error" and reply["kind"] == "bad_input", (request, reply)
        assert "\n" not in reply["message"]
    for request in worker_cases(corpus):
        assert "destroy" in replies[request["job"]]["message"], replies[request["job"]]
    assert _checksums(corpus / "in") == before
    assert not any((corpus / "out").iterdir())


def test_odd_images_read_correctly(corpus, capsys):
    i = corpus / "in"
    rgb, alpha = read_image(i / "grey_alpha16.png")
    assert alpha is not None and abs(alpha.mean() - 40000 / 65535) < 1e-6
    assert len(np.unique(rgb[..., 0])) > 1000, "16-bit grey kept at full precision"
    assert np.allclose(rgb[..., 0], rgb[..., 2])
    rgb, alpha = read_image(i / "rgb16.png")
    assert alpha is None and len(np.unique(rgb[..., 1])) > 1000
    cmyk, _ = read_image(i / "cmyk.tif")
    plain, _ = read_image(i / "content.png")
    assert np.abs(cmyk - plain).mean() < 0.02
    for name, kind in (("animated.gif", "frame"), ("pages.tif", "page")):
        read_image(i / name, "style image")
        assert f"has 3 {kind}s; using {kind} 1 of 3" in capsys.readouterr().err


def test_hostile_images_through_a_real_run(corpus, capsys, tmp_path):
    """An animated GIF as the style says which frame it used; a 16-bit grey+alpha content keeps its alpha; a style
    that is a folder is one line."""
    i = corpus / "in"
    before = _checksums(i)
    output = tmp_path / "r.png"
    args = ["stylize", "--content", i / "grey_alpha16.png", "--style", i / "animated.gif", "--style", i / "cmyk.tif",
            "--output", output, "--size", "32", "--iterations", "1", "--scales", "1", "--quiet", "--no-cache",
            "--device", "cpu"]
    code, err = run_cli(args, capsys)
    assert code == 0, err
    assert "using frame 1 of 3" in err
    with Image.open(output) as written:
        assert max(written.size) == 32 and written.mode == "RGBA"
    code, err = run_cli(_set(args, "--style", i / "styles") + ["--output", tmp_path / "s.png"], capsys)
    assert code == 2 and "is a folder; give an image file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.png").exists()
    assert _checksums(i) == before
