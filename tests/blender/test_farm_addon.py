"""Submit to Farm in the real Blender: the OpenJD bundle export (valid YAML that `openjd check` accepts, the scene's
settings as its parameters, never overwriting an earlier bundle), the Flamenco job POSTed to a real HTTP server on
127.0.0.1, refused while Blender is offline, and clear messages for a Manager that refuses, is down or hangs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from blender_kit import ADDON, build_tiny_scene

import bpy

pytestmark = pytest.mark.blender


@pytest.fixture
def shot(addon, tmp_path):
    """The tiny scene over 4 frames, saved as shot.blend (the farm renders saved files), output in tmp/out."""
    scene = build_tiny_scene(frames=4)
    scene.nst.output_folder = str(tmp_path / "out")
    scene.nst.final_iterations = 7
    farm = scene.nst_farm
    farm.chunk_size, farm.bundle_folder = 2, str(tmp_path / "bundles")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    return scene


@pytest.fixture(params=[True], ids=["online"])
def online_access(request):
    """Blender's own 'Allow Online Access' preference set as the test's parameter (bpy.app.online_access follows
    it; bpy.app itself is read-only), restored afterwards."""
    system = bpy.context.preferences.system
    before = system.use_online_access
    system.use_online_access = request.param
    assert bpy.app.online_access == request.param
    yield request.param
    system.use_online_access = before


class Manager:
    """A real HTTP server standing in for a Flamenco Manager: records each request and answers as told."""

    def __init__(self, status: int = 200, answer: dict | None = None, hang: threading.Event | None = None):
        self.requests: list[tuple[str, dict, dict]] = []
        manager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                manager.requests.append((self.path, dict(self.headers), body))
                if hang is not None:
                    hang.wait(10)
                    return
                reply = json.dumps(answer or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def manager():
    servers: list[Manager] = []

    def start(**kwargs) -> Manager:
        servers.append(Manager(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def values(bundle: Path) -> dict:
    return {item["name"]: item["value"]
            for item in yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]}


def test_export_openjd_bundle_carries_the_scene_and_never_overwrites(shot, tmp_path):
    farm = shot.nst_farm
    farm.chunking, farm.warmup = "overlap", 1
    farm.worker_command, farm.worker_python = "PYTHON", sys.executable
    assert bpy.ops.nst.farm_submit() == {"FINISHED"}
    (bundle,) = (tmp_path / "bundles").iterdir()
    assert "deadline bundle submit" in farm.status and str(bundle) in farm.status

    template = yaml.safe_load((bundle / "template.yaml").read_text())
    assert [step["name"] for step in template["steps"]] == ["Render", "Stylize", "Join", "Encode"]
    render_chunks = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"]
    assert render_chunks == ["1-2", "3-4"]
    checked = subprocess.run([str(Path(sys.executable).parent / "openjd"), "check", str(bundle / "template.yaml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    got = values(bundle)
    assert got["BlendFile"] == bpy.data.filepath == str(tmp_path / "shot.blend")
    assert got["OutputDir"] == str(tmp_path / "out" / "NST shot 1-4 (overlap)")  # one folder per job
    assert (got["Frames"], got["ChunkSize"], got["Chunking"], got["Warmup"]) == ("1-4", 2, "overlap", 1)
    assert (got["Method"], got["Iterations"], got["Size"], got["Fps"]) == ("quality", 7, 0, 24.0)
    assert got["Python"] == sys.executable and got["deadline:priority"] == 50
    assert not any(name.startswith("Style") for name in got), "styles come from the saved .blend"
    stamp = (bundle / "template.yaml").stat().st_mtime_ns

    assert bpy.ops.nst.farm_submit() == {"FINISHED"}  # the same job again: a new folder beside the first
    farm.chunking = "strict"
    assert bpy.ops.nst.farm_submit() == {"FINISHED"}
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == [
        "nst_shot_1-4_overlap", "nst_shot_1-4_overlap_2", "nst_shot_1-4_strict"]
    assert (bundle / "template.yaml").stat().st_mtime_ns == stamp
    strict = yaml.safe_load((tmp_path / "bundles" / "nst_shot_1-4_strict" / "template.yaml").read_text())
    assert [step["name"] for step in strict["steps"]] == ["Render", "Stylize 1-2", "Stylize 3-4", "Encode"]
    assert strict["steps"][2]["dependencies"] == [{"dependsOn": "Stylize 1-2"}]


def test_unsaved_blend_is_refused(addon, tmp_path):
    build_tiny_scene(frames=2).nst_farm.bundle_folder = str(tmp_path / "bundles")
    with pytest.raises(RuntimeError, match="never been saved"):
        bpy.ops.nst.farm_submit()
    assert not (tmp_path / "bundles").exists()


def test_flamenco_submit_posts_the_job_to_the_manager(shot, online_access, manager, tmp_path):
    server = manager(answer={"id": "4b2e-job"})
    farm = shot.nst_farm
    farm.target, farm.manager_url, farm.priority = "FLAMENCO", server.url + "/", 70
    farm.chunking, farm.keyframes = "anchors", 3
    assert bpy.ops.nst.farm_submit() == {"FINISHED"}
    assert "4b2e-job" in farm.status

    ((path, headers, body),) = server.requests
    assert path == "/api/v3/jobs" and headers["Content-Type"] == "application/json"
    assert body["type"] == "nst-stylize" and body["priority"] == 70
    assert body["submitter_platform"] == {"linux": "linux", "darwin": "darwin", "win32": "windows"}[sys.platform]
    settings = body["settings"]
    assert settings["blendfile"] == str(tmp_path / "shot.blend") and settings["output_dir"] == str(
        tmp_path / "out" / "NST shot 1-4 (anchors)")
    assert (settings["frames"], settings["chunk_size"], settings["chunking"], settings["keyframes"]) == (
        "1-4", 2, "anchors", 3)
    assert (settings["method"], settings["iterations"], settings["fps"], settings["styles"]) == ("quality", 7, 24.0, "")
    assert settings["batch_script"].endswith("/scripts/blender_batch.py")
    assert body["metadata"]["project"] == "shot"

    exported = tmp_path / "job.json"
    assert bpy.ops.nst.farm_export_flamenco(filepath=str(exported)) == {"FINISHED"}
    assert json.loads(exported.read_text()) == body


@pytest.mark.parametrize("online_access", [False], ids=["offline"], indirect=True)
def test_flamenco_submit_is_refused_while_blender_is_offline(shot, online_access, manager, tmp_path):
    server = manager()
    shot.nst_farm.target, shot.nst_farm.manager_url = "FLAMENCO", server.url
    with pytest.raises(RuntimeError, match="set to work offline, so nothing was sent"):
        bpy.ops.nst.farm_submit()
    assert server.requests == []
    exported = tmp_path / "job.json"  # exporting the JSON sends nothing, so it works offline
    assert bpy.ops.nst.farm_export_flamenco(filepath=str(exported)) == {"FINISHED"}
    assert json.loads(exported.read_text())["type"] == "nst-stylize"


def test_flamenco_manager_problems_give_clear_messages(shot, online_access, manager, monkeypatch):
    farm = shot.nst_farm
    farm.target = "FLAMENCO"
    farm.manager_url = manager(status=400, answer={"code": 400, "message": "job type nst-stylize unknown"}).url
    with pytest.raises(RuntimeError, match=r"refused the job \(HTTP 400\): job type nst-stylize unknown; .*"
                                           r"nst_stylize\.js"):
        bpy.ops.nst.farm_submit()

    closed = manager()
    closed.close()
    farm.manager_url = closed.url
    with pytest.raises(RuntimeError, match="cannot reach the Flamenco Manager at http://127.0.0.1"):
        bpy.ops.nst.farm_submit()

    monkeypatch.setattr(sys.modules[f"{ADDON}.nst_addon.farm.flamenco"], "HTTP_TIMEOUT_S", 0.5)
    hang = threading.Event()
    farm.manager_url = manager(hang=hang).url
    try:
        with pytest.raises(RuntimeError, match="did not answer within 0.5 s"):
            bpy.ops.nst.farm_submit()
    finally:
        hang.set()

    farm.manager_url = "localhost:8080"
    with pytest.raises(RuntimeError, match="must start with http:// or https://"):
        bpy.ops.nst.farm_submit()
