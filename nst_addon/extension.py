"""Where the add-on sits: the extension's root folder and its packages beside nst_addon/ (engine/, protocol/, farm/).

Those packages are top-level when the repository root is on sys.path (tests, `python -m nst_addon.batch`, farm
workers) and sub-packages of the installed extension's package inside Blender; `sibling` imports them either way.
No bpy here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

EXTENSION_ROOT = Path(__file__).resolve().parent.parent  # holds engine/, protocol/ and farm/ beside nst_addon/
EXTENSION_PACKAGE = (__package__ or "").rpartition(".")[0]  # "" in the repository, "bl_ext.<repo>.<id>" installed


def sibling(name: str) -> ModuleType:
    """The extension's module `name` (dotted, e.g. "farm.openjd.bundle"), wherever the extension is."""
    return importlib.import_module(f"{EXTENSION_PACKAGE}.{name}".lstrip("."))
