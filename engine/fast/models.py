"""The model library: models bundled in the repository's `models/` folder and the user's own models folder.

A model is named by its file's stem; the user's folder wins over a bundled model of the same name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..runtime.errors import EngineError
from .model_file import ModelInfo, read_model_info

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "models"


def user_models_dir() -> Path:
    """$NST_MODELS_DIR, else the platform's data folder (~/.local/share/nst-blender/models on Linux)."""
    if os.environ.get("NST_MODELS_DIR"):
        return Path(os.environ["NST_MODELS_DIR"]).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nst-blender" / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    location: str  # "user" or "bundled"
    info: ModelInfo | None
    problem: str | None  # why the file cannot be used, if it cannot


def list_models() -> list[ModelEntry]:
    """Every model file in the user folder, then the bundled ones, each with its metadata or its problem."""
    entries: dict[str, ModelEntry] = {}
    for location, folder in (("user", user_models_dir()), ("bundled", BUNDLED_DIR)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.safetensors")):
            if path.stem in entries or path.name.endswith(".ckpt.safetensors"):
                continue
            try:
                entries[path.stem] = ModelEntry(path.stem, path, location, read_model_info(path), None)
            except EngineError as exc:
                entries[path.stem] = ModelEntry(path.stem, path, location, None, str(exc))
    return list(entries.values())


def find_model(name_or_path: str) -> Path:
    """A model's file from a library name or a path to a .safetensors file."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".safetensors" or os.sep in name_or_path or "/" in name_or_path:
        if not path.is_file():
            raise EngineError(f"model file not found: {path}; check the path")
        return path
    for entry in list_models():
        if entry.name == name_or_path:
            return entry.path
    names = ", ".join(e.name for e in list_models()) or "none"
    raise EngineError(f"no model named '{name_or_path}' (available: {names}); see 'python -m engine models'")
