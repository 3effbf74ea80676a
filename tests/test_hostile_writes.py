"""Every file the engine writes goes through one guard (issue 25): a scan of the engine's source for every call
that writes or replaces a file, each of which must sit inside `with atomic_path(...)` (engine/imageio/images.py, which
calls protocol.paths.refuse_writing first), and the behaviour: a --save-every snapshot named like an input is
refused, and a JPEG's sidecar is the one written with its image, or none.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from support import REPO, STYLES, draw_content

from engine.cli import main

WRITER_CALLS = {"save", "save_file", "write_text", "write_bytes", "replace", "rename", "copy", "copyfile", "copy2",
                "move", "savez", "imwrite", "write", "mkstemp"}
THE_GUARD = {("engine/imageio/images.py", "atomic_path"), ("engine/imageio/images.py", "check_output_path")}  # the guard, a probe


def _writes(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name == "open":
        modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
        modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
        return any(set(str(m)) & set("wax+") for m in modes)
    if name == "write" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute):
        return func.value.attr not in ("stdout", "stderr")
    owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
    if name in ("copy", "copyfile", "copy2", "move"):
        return owner == "shutil"
    if name in ("replace", "rename"):
        return owner == "os"
    return name in WRITER_CALLS - {"write"}


def unguarded_writers(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "engine").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())

        def visit(node, function: str, guarded: bool):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                function, guarded = node.name, (relative, node.name) in THE_GUARD
            if isinstance(node, ast.With) and any(
                    isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", "") ==
                    "atomic_path" for item in node.items):
                guarded = True
            if isinstance(node, ast.Call) and _writes(node) and not guarded:
                found.append(f"{relative}:{node.lineno} in {function}: {ast.unparse(node)[:80]}")
            for child in ast.iter_child_nodes(node):
                visit(child, function, guarded)

        visit(tree, "<module>", False)
    return found


def test_every_writer_in_the_engine_goes_through_the_guard():
    assert unguarded_writers(REPO) == []


def test_the_scan_finds_a_writer_that_bypasses_the_guard(tmp_path):
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "rogue.py").write_text(
        "import numpy as np\nfrom pathlib import Path\n\ndef dump(a, p):\n    np.save(p, a)\n"
        "    Path(p).write_text('x')\n    open(p, 'wb').close()\n")
    assert len(unguarded_writers(tmp_path)) == 3


def test_a_snapshot_named_like_the_content_is_refused_and_the_content_kept(tmp_path, capsys):
    """Issue 25's first case: `--save-every` would have replaced the content with a snapshot."""
    (tmp_path / "se").mkdir()
    content = tmp_path / "se" / "out.s1-i00001.png"
    Image.fromarray((draw_content(48, 32) * 255).astype(np.uint8)).save(content)
    before = content.read_bytes()
    code = main(["stylize", "--content", str(content), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(tmp_path / "se" / "out.png"), "--size", "32", "--iterations", "2", "--scales", "1",
                 "--save-every", "1", "--device", "cpu", "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "would destroy" in err and len(err.strip().splitlines()) == 1, err
    assert content.read_bytes() == before
    assert not (tmp_path / "se" / "out.png").exists()


def _stylize(tmp_path, output, *extra):
    content = tmp_path / "content.png"
    if not content.exists():
        Image.fromarray((draw_content(48, 32) * 255).astype(np.uint8)).save(content)
    return main(["stylize", "--content", str(content), "--style", str(STYLES / "starry_night.jpg"), "--output",
                 str(output), "--size", "32", "--iterations", "1", "--scales", "1", "--device", "cpu", "--quiet",
                 "--no-cache", *extra])


def test_an_existing_file_the_engine_did_not_write_is_replaced_only_with_overwrite(tmp_path, capsys):
    """Issue 25's first class, beyond inputs: an output, a JPEG's sidecar or a snapshot name that holds someone
    else's file is refused before any work; the engine's own results are replaced; --overwrite replaces any."""
    theirs = {"photo.png": None, "shot.jpg.json": b'{"notes": "mine"}', "run.s1-i00001.png": None}
    for name, data in theirs.items():
        if data is None:
            Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(data)
    before = {name: (tmp_path / name).read_bytes() for name in theirs}
    for output, extra in (("photo.png", ()), ("shot.jpg", ()), ("run.png", ("--save-every", "1"))):
        assert _stylize(tmp_path, tmp_path / output, *extra) == 2
        err = capsys.readouterr().err
        assert "this engine did not write it" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert {name: (tmp_path / name).read_bytes() for name in theirs} == before
    assert not (tmp_path / "shot.jpg").exists() and not (tmp_path / "run.png").exists()
    assert _stylize(tmp_path, tmp_path / "ours.jpg") == 0 and _stylize(tmp_path, tmp_path / "ours.jpg") == 0
    assert _stylize(tmp_path, tmp_path / "photo.png", "--overwrite") == 0
    from engine.imageio.images import read_settings

    assert read_settings(tmp_path / "photo.png")["content"].endswith("content.png")


def test_a_sidecar_belongs_to_its_own_image_or_is_not_read(tmp_path):
    from engine.imageio.images import read_settings, write_image

    pixels = np.full((16, 16, 3), 0.5, np.float32)
    first, second = write_image(tmp_path / "a.jpg", pixels, {"job": 1}), tmp_path / "b.jpg"
    write_image(second, pixels * 0.5, {"job": 2})
    assert read_settings(first) == {"job": 1}
    shutil.copyfile(tmp_path / "b.jpg.json", tmp_path / "a.jpg.json")  # another job's settings beside this image
    assert read_settings(first) is None


def test_a_failed_sidecar_leaves_no_image(tmp_path, monkeypatch):
    from engine.imageio.images import write_image
    from engine.runtime.errors import EngineError

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)  # the disk fills up while the sidecar is written
    try:
        write_image(tmp_path / "a.jpg", np.zeros((16, 16, 3), np.float32), {"job": 1})
    except EngineError as exc:
        assert "disk is full" in str(exc)
    else:
        raise AssertionError("no error")
    assert list(tmp_path.iterdir()) == []


ADDON_WRITER_CALLS = {"save_render", "save_as_mainfile"}  # Blender's own writers, beside the engine's list


def unguarded_addon_writers(root: Path) -> list[str]:
    """Writers in nst_addon/ and farm/ not preceded, in their own function, by a `refuse_writing(...)` call (the
    one guard, protocol.paths, against the running job's inputs)."""
    found = []
    for folder in ("nst_addon", "farm"):
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                guards = [n.lineno for n in ast.walk(function) if isinstance(n, ast.Call) and (
                    getattr(n.func, "attr", None) or getattr(n.func, "id", "")) == "refuse_writing"]
                for node in ast.walk(function):
                    if not isinstance(node, ast.Call):
                        continue
                    name = getattr(node.func, "attr", None)  # Blender's own: image.save_render(...)
                    stdin = isinstance(node.func, ast.Attribute) and "stdin" in ast.unparse(node.func.value)
                    if stdin or not (_writes(node) or name in ADDON_WRITER_CALLS):
                        continue  # a pipe to the worker is no file
                    if not any(line <= node.lineno for line in guards):
                        found.append(f"{relative}:{node.lineno} in {function.name}: {ast.unparse(node)[:80]}")
    return sorted(set(found))


def test_every_writer_in_the_addon_and_the_farm_goes_through_the_guard():
    assert unguarded_addon_writers(REPO) == []


def test_the_addon_scan_finds_a_writer_that_bypasses_the_guard(tmp_path):
    (tmp_path / "nst_addon").mkdir()
    (tmp_path / "farm").mkdir()
    (tmp_path / "farm" / "rogue.py").write_text(
        "import shutil\nfrom pathlib import Path\n\ndef dump(p):\n    shutil.copyfile(p, p + '.x')\n"
        "    Path(p).write_text('x')\n\ndef fine(p):\n    refuse_writing(p)\n    Path(p).write_text('x')\n")
    assert len(unguarded_addon_writers(tmp_path)) == 2
