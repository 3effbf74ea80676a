"""The style library: folders of style images, each described in a `library.json` (name, artist, source, licence).

Shipped examples live in the extension's `styles/`; users add theirs to the user folder's `styles/`. Images with
no entry (or no licence) are listed too and flagged. Thumbnails come from `bpy.utils.previews`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bpy.utils.previews

from .extension import EXTENSION_ROOT
from .preferences import user_folder

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".exr"}
_previews: dict[str, bpy.utils.previews.ImagePreviewCollection] = {}


@dataclass(frozen=True)
class LibraryStyle:
    id: str
    name: str
    artist: str
    path: Path
    source: str
    licence: str  # empty when none is recorded

    @property
    def licence_known(self) -> bool:
        return bool(self.licence.strip())


def library_folders() -> list[Path]:
    return [EXTENSION_ROOT / "styles", user_folder("styles")]


def read_folder(folder: Path) -> list[LibraryStyle]:
    """The styles in one folder: its library.json entries, then any other images (with no licence)."""
    entries = []
    index = folder / "library.json"
    if index.is_file():
        try:
            entries = json.loads(index.read_text(encoding="utf-8")).get("styles", [])
        except (OSError, ValueError, AttributeError):
            entries = []
    styles, described = [], set()
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("file"):
            continue
        path = folder / str(entry["file"])
        if not path.is_file():
            continue
        described.add(path.name)
        styles.append(LibraryStyle(str(entry.get("id") or path.stem), str(entry.get("name") or path.stem),
                                   str(entry.get("artist", "")), path, str(entry.get("source", "")),
                                   str(entry.get("licence", ""))))
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.name not in described:
                styles.append(LibraryStyle(path.stem, path.stem, "", path, "", ""))
    return styles


def library_styles() -> list[LibraryStyle]:
    return [style for folder in library_folders() for style in read_folder(folder)]


def thumbnail(style: LibraryStyle) -> int:
    """The icon id of a style's thumbnail (loaded once)."""
    previews = _previews.get("styles")
    if previews is None:
        previews = _previews["styles"] = bpy.utils.previews.new()
    key = str(style.path)
    if key not in previews:
        previews.load(key, key, "IMAGE")
    return previews[key].icon_id


def clear_thumbnails() -> None:
    for previews in _previews.values():
        bpy.utils.previews.remove(previews)
    _previews.clear()
