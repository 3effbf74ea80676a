"""A small local render farm for Flamenco job types: submit, compile and run a job's tasks on this machine.

It does what the Flamenco pieces do, in one process:
- submission (the Blender add-on): `submission_settings` evaluates each setting's `eval` expression against the
  saved .blend in the real Blender (bpy), with the names Flamenco gives them (C, bpy, Path, abspath, jobname,
  settings, last_n_dir_parts);
- the Manager: `compile_job` runs the JavaScript job type under Node with the stand-in globals
  (bench/farm/compile.mjs) and reads back the task list;
- workers: `Farm.run` executes the tasks in dependency order on N worker threads, each task's commands as real
  subprocesses, a worker taking only the task types it lists (like `task_types` in flamenco-worker.yaml), a
  failed task re-queued up to `retries` times; it reports each task's status, worker, attempts, time and log.

Commands: `exec` runs as is. `frames-to-video` runs FFmpeg (the binary of the imageio-ffmpeg package) with the
arguments Flamenco Worker builds on Linux. `blender-render` would run a Blender executable; there is none here, so
a command that runs this project's batch entry (`--python .../scripts/blender_batch.py -- ARGS`) runs
`python -m nst_addon.batch BLENDFILE ARGS` instead: Blender as a Python module, the same code. Manager variables
(`{nst}`) are replaced in every command parameter first.

`python -m bench.farm.harness --help` submits a .blend's scene as an nst-stylize job and runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
JOB_TYPE_SCRIPT = REPO / "farm" / "flamenco" / "nst_stylize.js"
COMPILE_CLI = Path(__file__).resolve().parent / "compile.mjs"
BATCH_SCRIPT = REPO / "scripts" / "blender_batch.py"
POLL_S = 0.1


class HarnessError(Exception):
    """A job or command the harness cannot run, with what is wrong."""


def _node(*args: str, stdin: str | None = None) -> dict:
    try:
        done = subprocess.run(["node", str(COMPILE_CLI), *args], input=stdin, capture_output=True, text=True,
                              timeout=120)
    except FileNotFoundError:
        raise HarnessError("Node.js (`node`) is needed to compile Flamenco job types; install Node 18 or newer"
                           ) from None
    if done.returncode != 0:
        raise HarnessError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                           f"compile.mjs exited with status {done.returncode}")
    return json.loads(done.stdout)


def job_type(script: Path = JOB_TYPE_SCRIPT) -> dict:
    """The job type's JOB_TYPE object (label, settings)."""
    return _node("job-type", str(script))


def submission_settings(blend_file: Path, jobname: str, choices: dict | None = None,
                        script: Path = JOB_TYPE_SCRIPT) -> dict:
    """The settings Flamenco's Blender add-on would submit for this .blend: the artist's `choices`, then each other
    setting's `eval` evaluated in the real Blender with the file open, in the job type's order."""
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(Path(blend_file).resolve()))
    if not hasattr(bpy.types.Scene, "nst"):
        from nst_addon import register

        register()

    def abspath(path) -> Path:
        return Path(os.path.normpath(os.path.abspath(path)))

    def last_n_dir_parts(n: int, file_path: str | None = None) -> Path:
        parts = abspath(file_path or bpy.data.filepath).parent.parts
        return Path(*parts[len(parts) - n:]) if n else Path()

    settings = {"blendfile": str(Path(blend_file).resolve())}
    definitions = job_type(script)["settings"]
    known = {s["key"] for s in definitions}
    for key in choices or {}:
        if key not in known:
            raise HarnessError(f"the job type has no setting {key!r} (it has: {', '.join(sorted(known))})")
    for setting in definitions:
        key = setting["key"]
        if key in (choices or {}):
            settings[key] = _typed(setting, (choices or {})[key])
        if key in settings or "eval" not in setting:
            continue
        names = {"C": bpy.context, "bpy": bpy, "Path": Path, "abspath": abspath, "jobname": jobname,
                 "settings": SimpleNamespace(**settings), "last_n_dir_parts": last_n_dir_parts}
        try:
            value = eval(setting["eval"], names)  # noqa: S307 - the job type's own expression, as Flamenco does
        except Exception as exc:
            raise HarnessError(f"setting {key}: evaluating {setting['eval']!r} failed: {exc}") from exc
        settings[key] = _typed(setting, value)
    return settings


def _typed(setting: dict, value):
    """A value as the add-on's property of the setting's type holds it (text from a command line included)."""
    if setting["type"] == "bool":
        return value.lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)
    return {"string": str, "int32": int, "float": float}[setting["type"]](value)


@dataclass
class Task:
    name: str
    type: str
    commands: list[dict]
    dependencies: list[str]
    status: str = "queued"  # queued, active, completed, failed, cancelled
    attempts: int = 0
    worker: str = ""
    seconds: float = 0.0
    log: Path | None = None
    killed: bool = False


@dataclass
class Job:
    name: str
    settings: dict
    tasks: list[Task]

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task named {name!r} in job {self.name!r}")

    @property
    def status(self) -> str:
        states = {t.status for t in self.tasks}
        return "completed" if states == {"completed"} else "failed" if "failed" in states else "incomplete"

    def report(self) -> str:
        lines = [f"job {self.name}: {self.status}"]
        for t in self.tasks:
            killed = " (killed once)" if t.killed else ""
            lines.append(f"  {t.name:<20} {t.type:<8} {t.status:<10} worker={t.worker or '-':<6} "
                         f"attempts={t.attempts}{killed} {t.seconds:6.1f}s  {t.log or ''}")
        return "\n".join(lines)


def compile_job(settings: dict, name: str, script: Path = JOB_TYPE_SCRIPT) -> Job:
    """Run the job type's compileJob() (under Node, with the stand-in Flamenco globals) on these settings."""
    data = _node("compile", str(script), "--settings", "-", "--name", name, stdin=json.dumps(settings))
    return Job(data["name"], data["settings"],
               [Task(t["name"], t["type"], t["commands"], t["dependencies"]) for t in data["tasks"]])


ALL_TASK_TYPES = frozenset({"blender", "ffmpeg", "nst-gpu", "file-management", "misc"})


@dataclass
class Worker:
    name: str
    task_types: frozenset[str] = ALL_TASK_TYPES


def _expand(value, variables: dict[str, str]):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, variables) for k, v in value.items()}
    return value


def _number(value: float) -> str:
    """A number as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it: 24 -> "24", 23.976 -> "23.976"."""
    text = repr(float(value))
    return text.removesuffix(".0")


def command_line(command: dict, variables: dict[str, str], python: str = sys.executable) -> list[str]:
    """The process a Flamenco command runs on this machine (see the module docstring)."""
    name, params = command["name"], _expand(command["parameters"], variables)
    if name == "exec":
        return [params["exe"], *params.get("args", [])]
    if name == "frames-to-video":
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe() if params["exe"] in ("ffmpeg", "ffmpeg.exe") else params["exe"]
        fps = _number(params["fps"])
        return [exe, *shlex.split(params.get("exeArgs", "")), *params.get("argsBefore", []),
                "-r", fps, "-pattern_type", "glob", "-i", params["inputGlob"],
                *params.get("args", []), "-r", fps, params["outputFile"]]
    if name == "blender-render":
        args = params.get("args", [])
        if args[:1] == ["--python-exit-code"]:  # Blender's exit status after a failed script; ours is the batch's
            args = args[2:]
        if params.get("argsBefore") or len(args) < 3 or args[0] not in ("--python", "-P") or args[2] != "--":
            raise HarnessError(f"blender-render {args[:3]}...: this harness has no Blender executable and runs only "
                               f"the batch entry, `--python {BATCH_SCRIPT.relative_to(REPO)} -- ARGS`")
        if Path(args[1]).resolve() != BATCH_SCRIPT:
            raise HarnessError(f"blender-render runs {args[1]!r}, not this project's {BATCH_SCRIPT} (is the Manager "
                               f"variable in batch_script set? variables: {variables})")
        return [python, "-m", "nst_addon.batch", params["blendfile"], *args[3:]]
    raise HarnessError(f"command {name!r} is not one this harness runs (exec, frames-to-video, blender-render)")


@dataclass
class Farm:
    """Workers on this machine. `variables`: the Manager's variables ({nst} = this repository by default)."""

    workers: list[Worker] = field(default_factory=lambda: [Worker("w1"), Worker("w2")])
    variables: dict[str, str] = field(default_factory=lambda: {"nst": str(REPO)})
    retries: int = 1
    python: str = sys.executable
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nst-farm-")))
    env: dict[str, str] = field(default_factory=dict)

    def run(self, job: Job, kill_when: dict[str, Callable[[float], bool]] | None = None,
            on_line: Callable[[str], None] = print) -> Job:
        """Run every task, in dependency order, on the workers; returns the job with each task's outcome.
        `kill_when[name](seconds_running)`: when it turns true during that task's first attempt, the task's
        processes are killed (SIGKILL, as when a machine dies), and the task is retried like any failure."""
        _check_graph(job)
        for task in job.tasks:
            if not any(task.type in w.task_types for w in self.workers):
                raise HarnessError(f"no worker takes task type {task.type!r} (task {task.name})")
            for command in task.commands:
                command_line(command, self.variables, self.python)  # refuse what cannot run before anything runs
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state = threading.Condition()
        kills = dict(kill_when or {})
        threads = [threading.Thread(target=self._work, args=(worker, job, state, kills, on_line), daemon=True)
                   for worker in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return job

    def _next(self, worker: Worker, job: Job) -> Task | None | bool:
        """A task this worker may start now; None to wait; False when nothing more will ever be ready."""
        done = {t.name for t in job.tasks if t.status == "completed"}
        if any(t.status == "failed" for t in job.tasks):
            for t in job.tasks:
                if t.status == "queued":
                    t.status = "cancelled"
        queued = [t for t in job.tasks if t.status == "queued"]
        for task in queued:
            if task.type in worker.task_types and all(d in done for d in task.dependencies):
                return task
        return None if queued or any(t.status == "active" for t in job.tasks) else False

    def _work(self, worker: Worker, job: Job, state: threading.Condition,
              kills: dict[str, Callable[[float], bool]], on_line: Callable[[str], None]) -> None:
        while True:
            with state:
                while (task := self._next(worker, job)) is None:
                    state.wait()
                if task is False:
                    state.notify_all()
                    return
                assert isinstance(task, Task)
                task.status, task.worker = "active", worker.name
                task.attempts += 1
                kill = kills.pop(task.name, None)
            on_line(f"[farm] {worker.name}: {task.name} (attempt {task.attempts})")
            ok = self._execute(task, kill)
            with state:
                if ok:
                    task.status = "completed"
                else:
                    task.status = "queued" if task.attempts <= self.retries else "failed"
                outcome = "failed, re-queued" if task.status == "queued" else task.status
                on_line(f"[farm] {worker.name}: {task.name} {outcome} ({task.seconds:.1f}s, log {task.log})")
                state.notify_all()

    def _execute(self, task: Task, kill: Callable[[float], bool] | None) -> bool:
        """Run the task's commands one after another; False when one fails (or is killed)."""
        task.log = self.log_dir / f"{task.name}.{task.attempts}.log"
        env = dict(os.environ, **self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        start = time.monotonic()
        try:
            with open(task.log, "w") as log:
                for command in task.commands:
                    argv = command_line(command, self.variables, self.python)
                    log.write(f"going to run: {shlex.join(argv)}\n")
                    log.flush()
                    try:
                        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, start_new_session=True)
                    except OSError as exc:
                        log.write(f"cannot start {argv[0]}: {exc}\n")
                        return False
                    while process.poll() is None:
                        if kill is not None and kill(time.monotonic() - start):
                            os.killpg(process.pid, signal.SIGKILL)  # the task's whole process group, engine too
                            task.killed, kill = True, None
                        time.sleep(POLL_S)
                    if process.returncode != 0:
                        log.write(f"\nexited with status {process.returncode}\n")
                        return False
            return True
        finally:
            task.seconds = time.monotonic() - start


def _check_graph(job: Job) -> None:
    """Refuses unknown dependencies and dependency cycles, which would leave tasks waiting for ever."""
    names = {t.name: t for t in job.tasks}
    for task in job.tasks:
        for dep in task.dependencies:
            if dep not in names:
                raise HarnessError(f"task {task.name} depends on {dep!r}, which is not in the job")
    done: set[str] = set()
    while len(done) < len(names):
        ready = [t.name for t in job.tasks if t.name not in done and set(t.dependencies) <= done]
        if not ready:
            raise HarnessError(f"dependency cycle among {sorted(set(names) - done)}")
        done.update(ready)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return key, value


def _kill(text: str) -> tuple[str, float]:
    name, sep, seconds = text.rpartition("@")
    try:
        return name, float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not TASK@SECONDS") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.farm.harness",
        description="Submit a .blend's scene as a Flamenco nst-stylize job (settings evaluated from the scene) and "
                    "run it on local workers.")
    parser.add_argument("blend_file", type=Path)
    parser.add_argument("--set", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                        help="a job setting, as in the add-on's submit panel (e.g. chunking=overlap, chunk_size=12)")
    parser.add_argument("--job-name", default="nst-job", help="the job's name (the output goes to a folder named so)")
    parser.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    parser.add_argument("--gpu-workers", type=int, help="how many of them take nst-gpu tasks (default: all)")
    parser.add_argument("--retries", type=int, default=1, help="times a failed task is re-queued (default 1)")
    parser.add_argument("--var", action="append", type=_key_value, default=[], metavar="NAME=VALUE",
                        help=f"a Manager variable (default: nst={REPO})")
    parser.add_argument("--kill", type=_kill, metavar="TASK@SECONDS",
                        help="kill this task's first attempt after SECONDS (fault drill; it is then retried)")
    parser.add_argument("--write-job", type=Path, metavar="FILE",
                        help="write the compiled job (settings, tasks) as JSON to FILE and stop")
    args = parser.parse_args(argv)

    try:
        settings = submission_settings(args.blend_file, args.job_name, dict(args.set))
        job = compile_job(settings, args.job_name)
        if args.write_job:
            args.write_job.write_text(json.dumps({"name": job.name, "settings": job.settings, "tasks": [
                {"name": t.name, "type": t.type, "commands": t.commands, "dependencies": t.dependencies}
                for t in job.tasks]}, indent=1))
            print(f"wrote {args.write_job}: {len(job.tasks)} tasks")
            return 0
        gpu = args.workers if args.gpu_workers is None else args.gpu_workers
        workers = [Worker(f"w{i + 1}", ALL_TASK_TYPES if i < gpu else ALL_TASK_TYPES - {"nst-gpu"})
                   for i in range(args.workers)]
        farm = Farm(workers=workers, variables={"nst": str(REPO), **dict(args.var)}, retries=args.retries)
        kill = {args.kill[0]: (lambda s, after=args.kill[1]: s >= after)} if args.kill else None
        farm.run(job, kill_when=kill)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(job.report())
    return 0 if job.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
