"""The add-on's side of the engine worker: starts `python -m engine worker`, sends requests, collects events.

No bpy and no torch here, so it imports and runs in plain Python: a reader thread turns the worker's stdout lines
into events on a queue that Blender's main thread drains (a modal timer when interactive, a blocking loop under
`blender -b`).
"""

from __future__ import annotations

import collections
import os
import queue
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .extension import EXTENSION_ROOT, sibling

if TYPE_CHECKING:
    import protocol
else:
    protocol = sibling("protocol")

TORCH_CHECK_TIMEOUT_S = 120
SHUTDOWN_GRACE_S = 3.0
CANCEL_GRACE_S = 10.0


class AddonError(Exception):
    """A problem the user can fix, with a message that says how."""


def refuse_writing(path, what: str = "a file the job writes") -> None:
    """The one guard (protocol.paths) every add-on writer calls before it creates or replaces `path`: AddonError
    when `path` is one of the running job's inputs (its styles, their image files, the .blend file)."""
    try:
        protocol.refuse_writing(path, what)
    except protocol.OverwritesInput as exc:
        raise AddonError(str(exc)) from None


def python_has_torch(python: str) -> tuple[bool, str]:
    """Whether `python` runs and can find torch (without importing it); returns (ok, explanation)."""
    if not python:
        return False, "no engine Python is set"
    if not Path(python).is_file():
        return False, f"the engine Python {python} does not exist"
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 3)"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=TORCH_CHECK_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the engine Python {python} cannot be run ({exc})"
    if done.returncode == 3:
        return False, f"the engine Python {python} has no PyTorch"
    if done.returncode != 0:
        return False, f"the engine Python {python} failed to start: {done.stderr.strip()[-300:]}"
    return True, ""


@dataclass
class Job:
    """One request in flight and what the worker has said about it."""

    request: dict
    fraction: float = 0.0
    frame: int = 0  # sequences: the position of the frame being stylized
    message: str = "waiting for the engine"
    result: dict | None = None
    error: str | None = None
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)  # what the engine had to give up (out of memory: tiles, CPU)
    last_event_s: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return str(self.request["job"])

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None or self.cancelled

    def handle(self, event: dict) -> None:
        self.last_event_s = time.monotonic()
        kind = event.get("type")
        for warning in event.get("warnings") or ():
            if warning not in self.warnings:
                self.warnings.append(str(warning))
        if kind == "progress":
            self.fraction = float(event.get("fraction", self.fraction))
            self.frame = int(event.get("frame", self.frame))
            self.message = str(event.get("message", self.message))
        elif kind in ("result", "check", "ready"):  # the answers to stylize, check and hello
            self.fraction, self.result = 1.0, event
        elif kind == "error":
            self.error = friendly_error(event)
        elif kind == "cancelled":
            self.cancelled = True


def friendly_error(event: dict) -> str:
    message = str(event.get("message") or "the engine reported an error")
    if "No module named 'torch'" in message:
        return ("the engine Python has no PyTorch; use Install engine in the add-on preferences, "
                "or set the engine Python to one with torch")
    return message


class WorkerClient:
    """One long-lived worker process; jobs queue in it and run one at a time."""

    def __init__(self, python: str, models_folder: str = "", engine_root: Path = EXTENSION_ROOT):
        self.python = python
        self.models_folder = models_folder  # downloaded weights go here (TORCH_HOME)
        self.engine_root = Path(engine_root)
        self.process: subprocess.Popen | None = None
        self.events: queue.Queue = queue.Queue()
        self.stderr_tail: collections.deque = collections.deque(maxlen=30)
        self.jobs: dict[str, Job] = {}
        self.exit_reported = False

    # -- process -------------------------------------------------------------------------------

    def start(self) -> None:
        ok, why = python_has_torch(self.python)
        if not ok:
            raise AddonError(f"{why}; use Install engine in the add-on preferences, or set the engine Python "
                             "to one that has PyTorch (Check engine tells you what it finds)")
        if not (self.engine_root / "engine" / "worker.py").is_file():
            raise AddonError(f"the engine code is missing from {self.engine_root}; reinstall the extension")
        env = dict(os.environ, PYTHONPATH=str(self.engine_root), PYTHONUNBUFFERED="1")
        env.pop("PYTHONHOME", None)  # Blender sets it for its own Python; another Python must not inherit it
        if self.models_folder:  # trained fast-stylization models and downloaded weights
            env["NST_MODELS_DIR"] = self.models_folder
            env["TORCH_HOME"] = self.models_folder
        try:
            self.process = subprocess.Popen(
                [self.python, "-m", "engine", "worker"], cwd=str(self.engine_root), env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", bufsize=1)
        except OSError as exc:
            raise AddonError(f"cannot start the engine worker with {self.python}: {exc}") from None
        threading.Thread(target=self._read_events, args=(self.process,), daemon=True, name="nst-events").start()
        threading.Thread(target=self._read_stderr, args=(self.process,), daemon=True, name="nst-stderr").start()

    def _read_events(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            event = protocol.decode_event(line)
            if event is None:  # not a protocol line: keep it with the worker's other output
                self.stderr_tail.append(line.rstrip())
            else:
                self.events.put(event.as_dict())
        process.wait()
        self.events.put({"type": "exit", "returncode": process.returncode})

    def _read_stderr(self, process: subprocess.Popen) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if line.strip():
                self.stderr_tail.append(line.rstrip())

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def death_message(self, returncode: int | None) -> str:
        last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        how = (f"was killed by signal {-returncode}" if returncode is not None and returncode < 0
               else f"exited with status {returncode}")
        hint = " (the system may have run out of memory; try a smaller size)" if returncode == -9 else ""
        return f"the engine worker stopped unexpectedly: it {how}{hint}" + (f"; last message: {last}" if last else "")

    def shutdown(self) -> None:
        """Ask the worker to stop; kill it if it has not stopped after a grace period."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.poll() is None and process.stdin is not None:
                process.stdin.write(protocol.Request("shutdown", None).encode() + "\n")
                process.stdin.close()
            process.wait(timeout=SHUTDOWN_GRACE_S)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    # -- jobs ----------------------------------------------------------------------------------

    def send(self, message: dict) -> None:
        """Check `message` against the protocol's schema and send it; AddonError if it is malformed or the worker
        is gone."""
        try:
            line = protocol.Request.build(message).encode()
        except protocol.BadRequest as exc:
            raise AddonError(f"the add-on made a request the engine would refuse ({exc}); please report this "
                             "as a bug") from None
        if not self.alive or self.process is None or self.process.stdin is None:
            raise AddonError(self.death_message(None if self.process is None else self.process.poll()))
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            raise AddonError(self.death_message(self.process.poll())) from None

    def submit(self, request: dict) -> Job:
        job = Job(dict(request, job=request.get("job") or uuid.uuid4().hex[:12]))
        self.jobs[job.id] = job
        self.send(job.request)
        return job

    def cancel(self, job: Job) -> None:
        if self.alive:
            self.send({"type": "cancel", "job": job.id})

    def pump(self, timeout_s: float = 0.0) -> None:
        """Hand waiting events to their jobs; waits up to `timeout_s` for the first one."""
        try:
            event = self.events.get(timeout=timeout_s) if timeout_s > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._dispatch(event)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def _dispatch(self, event: dict) -> None:
        if event.get("type") == "exit":
            message = self.death_message(event.get("returncode"))
            for waiting in self.jobs.values():
                if not waiting.done:
                    waiting.error = message
            self.process = None
            return
        job = self.jobs.get(str(event.get("job")))
        if job is not None:
            job.handle(event)
            if job.done:
                self.jobs.pop(job.id, None)
        elif event.get("type") == "error":
            self.stderr_tail.append(str(event.get("message")))

    def check_hang(self, job: Job, hang_timeout_s: float) -> None:
        """A job that has said nothing for `hang_timeout_s` is failed and the worker killed."""
        if not job.done and hang_timeout_s > 0 and time.monotonic() - job.last_event_s > hang_timeout_s:
            self.kill()
            job.error = (f"the engine did not respond for {hang_timeout_s:.0f} s and was stopped; try a smaller "
                         "size, or raise the hang timeout in the add-on preferences")
            self.jobs.pop(job.id, None)


_shared: WorkerClient | None = None


def shared_client(python: str, models_folder: str = "") -> WorkerClient:
    """The worker reused between jobs; (re)started when it is not running or its settings changed."""
    global _shared
    if _shared is not None and (_shared.python, _shared.models_folder, _shared.alive) != (python, models_folder, True):
        _shared.shutdown()
        _shared = None
    if _shared is None:
        client = WorkerClient(python, models_folder)
        client.start()
        _shared = client
    return _shared


def shutdown_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.shutdown()
        _shared = None
