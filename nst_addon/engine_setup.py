"""Install Engine's work (its operator is in operators/engine.py): a venv with the engine's requirements.

It makes a venv in the extension's user folder and pip-installs the engine's pinned requirements into
it on a background thread (it needs Blender's online access). It checks the free disk space before it starts,
reports which package pip is at, and when it fails says why in one line: no network, pip's own ERROR line, or a
Python that cannot make venvs. Test hook: the environment variable NST_INSTALL_NEEDS_BYTES replaces the disk space
it asks for (e.g. a huge number, to see the refusal).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import bpy

from .extension import EXTENSION_ROOT
from .preferences import set_engine_report
from .worker_client import python_has_torch

GB = 1024 ** 3
# Free space Install Engine asks for: on Linux x86-64, where PyTorch from PyPI brings its CUDA libraries, the venv
# measured 5.7 GB and pip's downloads 3.0 GB, plus room to spare. PyPI's macOS and Windows wheels have no CUDA
# libraries (not measured here).
NEEDS_BYTES = 10 * GB if sys.platform.startswith("linux") else 4 * GB
NEEDS_BYTES_HOOK = "NST_INSTALL_NEEDS_BYTES"
# pip's words for a connection that could not be made (urllib3's exceptions and the OS's errors it carries)
NO_NETWORK = re.compile(r"NewConnectionError|ConnectTimeoutError|ProxyError|Failed to establish a new connection|"
                        r"Temporary failure in name resolution|Name or service not known|Network is unreachable|"
                        r"nodename nor servname|getaddrinfo failed")
OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+|Cannot connect to proxy|timed out")


class InstallError(Exception):
    """Install Engine failed; the message is the cause, in one line."""


def check_disk_space(folder: Path) -> None:
    """Refuse to start when the disk holding `folder` has less free space than the install needs."""
    needs = int(os.environ.get(NEEDS_BYTES_HOOK) or NEEDS_BYTES)
    free = shutil.disk_usage(folder).free
    if free < needs:
        raise InstallError(f"not enough disk space: the engine (PyTorch) needs about {needs / GB:.1f} GB free in "
                           f"{folder}, and there are {free / GB:.1f} GB; free some space there and press Install "
                           "Engine again")


def pip_failure(lines: list[str]) -> str:
    """The real cause of a failed pip run: no network, else pip's first ERROR line, else its last line."""
    for line in lines:
        if NO_NETWORK.search(line):
            reason = OS_ERROR.search(line)
            return (f"no network: pip could not reach the package index ({reason.group(0) if reason else line}); "
                    "connect to the internet (behind a proxy, set HTTPS_PROXY) and press Install Engine again")
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    if errors and "No space left on device" in errors[0]:
        return f"the disk filled up while installing: {errors[0]}; free some space and press Install Engine again"
    return errors[0] if errors else (lines[-1] if lines else "pip stopped without a word")


def pip_progress(line: str, packages: list[str]) -> str | None:
    """What a line of pip's output says pip is doing, for the panel; None for lines that say nothing new."""
    found = re.match(r"(?:Collecting|Requirement already satisfied:) ([A-Za-z0-9_.\-]+)", line)
    local = re.match(r"Processing (\S+)", line)  # a wheel from a local folder or file index
    if found or local:
        packages.append(found.group(1) if found else Path(local.group(1)).name.split("-")[0])
        return f"collecting {packages[-1]} ({len(packages)} packages so far)"
    found = re.match(r"\s*Downloading \S*?([A-Za-z0-9_.]+)-[0-9][^\s/]*\.whl \((.+)\)", line)
    if found:
        return f"downloading {found.group(1)} ({found.group(2)})"
    if line.startswith("Installing collected packages:"):
        count = len(line.split(":", 1)[1].split(","))
        return f"installing {count} packages (PyTorch alone takes minutes)"
    return None


def _run(command: list[str], on_line: Callable[[str], None]) -> tuple[int, list[str]]:
    env = dict(os.environ, PIP_USER="0", PIP_PROGRESS_BAR="off")
    env.pop("PYTHONHOME", None)  # Blender sets it for its own Python; the venv's must not inherit it
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        on_line(lines[-1])
    return process.wait(), lines


def install_engine(python: str, venv: Path, requirements: Path, on_progress: Callable[[str], None]) -> None:
    """Make the venv with `python` and pip-install `requirements` into it; raises InstallError with the cause."""
    check_disk_space(venv.parent)
    code, lines = _run([python, "-m", "venv", str(venv)], lambda line: None)
    if code != 0:
        cause = next((line for line in lines if "ensurepip" in line), None)
        if cause:
            raise InstallError(f"the Python {python} cannot make venvs ({cause.strip()}); on Debian or Ubuntu "
                               "install the python3-venv package, or use Blender's own build from blender.org")
        raise InstallError(f"the Python {python} cannot make a venv in {venv}: {lines[-1] if lines else code}")
    engine_python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    packages: list[str] = []

    def on_line(line: str) -> None:
        said = pip_progress(line, packages)
        if said:
            on_progress(said)

    on_progress("starting pip")
    code, lines = _run([str(engine_python), "-m", "pip", "install", "--disable-pip-version-check", "-r",
                        str(requirements)], on_line)
    if code != 0:
        raise InstallError(pip_failure(lines))
    ok, why = python_has_torch(str(engine_python))
    if not ok:
        raise InstallError(why)


class _Install:
    """The install running on its background thread: what it is doing and how it ended."""

    thread: threading.Thread | None = None
    progress: list[str] = []
    error: str | None = None
    done = False


def _install_in_background(python: str, venv: Path, requirements: Path) -> None:
    try:
        install_engine(python, venv, requirements, _Install.progress.append)
    except (InstallError, OSError) as exc:
        _Install.error = str(exc)
    finally:
        _Install.done = True


def install_running() -> bool:
    return _Install.thread is not None and _Install.thread.is_alive()


def start_install(venv: Path) -> None:
    """Install the engine into `venv` on a background thread, with Blender's own Python making the venv."""
    _Install.progress, _Install.error, _Install.done = [], None, False
    _Install.thread = threading.Thread(target=_install_in_background, daemon=True,
                                       args=(sys.executable, venv, EXTENSION_ROOT / "requirements.txt"))
    _Install.thread.start()


def wait_for_install() -> str | None:
    """Block until the install ends (background mode, where timers never run); its error, None when it worked."""
    if _Install.thread is not None:
        _Install.thread.join()
    return _Install.error


def report_install_progress() -> None:
    """Show the install's progress in the preferences until it ends (a timer; interactive Blender)."""
    bpy.app.timers.register(_poll_install, first_interval=1.0)


def _poll_install() -> float | None:
    if not _Install.done:
        doing = _Install.progress[-1] if _Install.progress else "making the venv"
        set_engine_report(f"Installing the engine: {doing}")
        return 1.0
    set_engine_report(f"Install Engine failed: {_Install.error}" if _Install.error
                      else "Engine installed; press Check Engine")
    return None
