"""Reading and writing images, label maps and render passes, with clear errors and atomic writes.

Pixels move through the engine as float32 numpy arrays, H x W x 3, display-referred sRGB in [0, 1].
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import socket
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
from PIL import Image, ImageOps, PngImagePlugin
from safetensors import safe_open

from protocol.paths import OverwritesInput, may_replace_others, refuse_writing

from ..runtime.errors import EngineError
from ..runtime.faults import pause_before_replace
from .alpha import Content, premultiply, prepare, unpremultiply
from .color import linear_to_srgb, srgb_to_linear

MIN_SIDE_PX = 16  # VGG-19 pools four times before relu5_1
MAX_PIXELS = 16384 * 16384
FLOAT_COPIES = 3  # float32 copies of every channel held while an image is read (decoded, reordered, split)
# The most memory one image may cost to read: what the largest 8-bit RGB image the pixel guard admits costs.
MAX_DECODED_BYTES = MAX_PIXELS * (3 + FLOAT_COPIES * 4 * 3)
GB = 1e9
SETTINGS_KEY = "nst-settings"
SIDECAR_IMAGE_KEY = "image_sha256"  # a sidecar names the image it belongs to: readers see the pair of one job or none
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".exr": "EXR", ".tif": "TIFF", ".tiff": "TIFF"}

Image.MAX_IMAGE_PIXELS = None  # we check declared sizes ourselves, with our own message


def check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise EngineError(f"{what} not found: {path}; check the path")
    if path.is_dir():
        raise EngineError(f"{what} {path} is a folder; give an image file")
    if path.stat().st_size == 0:
        raise EngineError(f"{what} {path} is empty (0 bytes); re-export or re-render it")


def _check_size(width: int, height: int, path: Path, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise EngineError(f"{what} {path} declares {width}x{height} px, more than this engine handles "
                          f"({MAX_PIXELS // 1_000_000} megapixels); resize it first")
    if min(width, height) < MIN_SIDE_PX:
        raise EngineError(f"{what} {path} is {width}x{height} px; images must be at least {MIN_SIDE_PX} px on each side")


def decoded_bytes(width: int, height: int, channels: int, bytes_per_sample: int) -> float:
    """Memory reading an image costs: its decoded samples plus the float32 copies made of every channel."""
    return float(width) * height * channels * (bytes_per_sample + FLOAT_COPIES * 4)


def check_decoded_bytes(width: int, height: int, channels: int, bytes_per_sample: int, path: Path,
                        what: str) -> None:
    """Before decoding: one line with the figure when reading the image would cost more memory than one image may
    (MAX_DECODED_BYTES) or than the machine has available; a file small on disk can declare gigabytes."""
    needed = decoded_bytes(width, height, channels, bytes_per_sample)
    try:
        available = 0.8 * os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not on every platform
        available = float("inf")
    limit, against = min((MAX_DECODED_BYTES, "the most this engine reads for one image"),
                         (available, "the memory available now"))
    if needed > limit:
        raise EngineError(f"{what} {path} is {width}x{height} px, {channels} channel(s) of {8 * bytes_per_sample} "
                          f"bits: decoding it needs about {needed / GB:.1f} GB of memory, more than {against} "
                          f"({limit / GB:.1f} GB); resize it first")


def _samples(image: Image.Image) -> tuple[int, int]:
    """(channels, bytes per sample) an opened, not yet decoded Pillow image will decode to."""
    channels = len(image.getbands())
    raw = " ".join(str(getattr(tile, "args", tile[3] if len(tile) > 3 else "")) for tile in image.tile or [])
    if image.mode in ("I", "F", "I;32") or ";32" in raw:
        return channels, 4
    if image.mode.startswith("I;16") or ";16" in raw:
        return channels, 2
    return channels, 1


def _check_finite(array: np.ndarray, path: Path, what: str) -> None:
    if not np.isfinite(array).all():
        raise EngineError(f"{what} {path} contains NaN or infinite pixel values; fix the render (or clamp it in "
                          "the compositor) and try again")


def check_channel(array: np.ndarray, path: Path, channel: str, what: str = "render passes") -> np.ndarray:
    """`array` (one channel or pass of `path`) when every value is finite, else one line naming the channel."""
    if not np.isfinite(array).all():
        count = int(array.size - np.isfinite(array).sum())
        raise EngineError(f"{what} {path}: the {channel} channel has {count} NaN or infinite value(s); fix the "
                          "render (or clamp it in the compositor) and try again")
    return array


def read_exr_channels(path: Path, what: str = "EXR file") -> dict[str, np.ndarray]:
    """Every channel of every part of an EXR, as float32 arrays keyed by full channel name."""
    check_file(path, what)
    try:
        header = OpenEXR.File(str(path), header_only=True)
        for part in header.parts:  # before decoding: the declared size and channels
            (x0, y0), (x1, y1) = part.header["dataWindow"]
            width, height = int(x1) - int(x0) + 1, int(y1) - int(y0) + 1
            _check_size(width, height, path, what)
            check_decoded_bytes(width, height, max(1, len(part.header.get("channels", ()) or ())), 4, path, what)
    except EngineError:
        raise
    except Exception:  # noqa: BLE001 - a header the full read below reports on
        pass
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
        channels = {}
        for part in exr.parts:
            for name, channel in part.channels.items():
                channels[name] = np.asarray(channel.pixels, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain RuntimeError/OSError for bad files
        raise EngineError(f"cannot read {what} {path}: not a valid EXR ({exc}); re-render or re-export it") from None
    if not channels:
        raise EngineError(f"cannot read {what} {path}: not a valid EXR, or truncated (no readable pixel data); "
                          "re-render or re-export it")
    return channels


def _rgb_from_exr(path: Path, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    channels = read_exr_channels(path, what)
    for prefix in ("", "ViewLayer.Combined.", "RenderLayer.Combined."):
        if all(prefix + c in channels for c in "RGB"):
            rgb = np.stack([channels[prefix + c] for c in "RGB"], axis=-1)
            alpha = channels.get(prefix + "A")
            break
    else:
        combined = sorted({n.rsplit(".", 1)[0] for n in channels if n.endswith(".Combined.R")})
        if not combined:
            raise EngineError(f"{what} {path} has no R, G, B (or Combined) channels; it has {sorted(channels)[:8]}")
        prefix = combined[0] + "."
        rgb = np.stack([channels[prefix + c] for c in "RGB"], axis=-1)
        alpha = channels.get(prefix + "A")
    _check_size(rgb.shape[1], rgb.shape[0], path, what)
    _check_finite(rgb, path, what)
    if alpha is not None:  # EXR colour is premultiplied by alpha: straight colour, as every other format gives
        alpha = np.clip(check_channel(alpha, path, f"alpha ({prefix}A)", what), 0.0, 1.0)
        rgb = unpremultiply(rgb, alpha)
    # Scene-linear to display sRGB (the standard view; the add-on sends view-transformed PNGs instead).
    return linear_to_srgb(np.clip(rgb, 0.0, 1.0)), alpha


def _read_16bit(path: Path) -> np.ndarray | None:
    """16-bit RGB(A) via OpenCV, which keeps all bits (Pillow truncates them to 8)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3:
        return None
    data = data.astype(np.float32) / 65535.0
    order = [2, 1, 0, 3] if data.shape[2] == 4 else [2, 1, 0]
    return data[..., order]


def read_image(path, what: str = "image") -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb, alpha or None) from PNG/JPEG/TIFF/WebP/EXR; any bit depth, grey, palette or CMYK."""
    path = Path(path)
    check_file(path, what)
    if path.suffix.lower() == ".exr":
        return _rgb_from_exr(path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                _check_size(image.width, image.height, path, what)
                check_decoded_bytes(image.width, image.height, *_samples(image), path, what)
                frames = getattr(image, "n_frames", 1)
                image = ImageOps.exif_transpose(image)
                image.load()
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow signals corrupt data with many exception types
        raise EngineError(f"cannot read {what} {path}: the file is truncated, corrupt or not an image "
                          f"({exc.__class__.__name__}); re-export it") from None
    if frames > 1:  # an animated GIF/WebP/PNG or a multi-page TIFF: say which picture is used
        kind = "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"
        print(f"warning: {what} {path} has {frames} {kind}; using {kind[:-1]} 1 of {frames}", file=sys.stderr)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1), None
    if mode == "F":
        grey = np.asarray(image, dtype=np.float32)
        _check_finite(grey, path, what)
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1), None
    if mode in ("RGB", "RGBA") and path.suffix.lower() in (".png", ".tif", ".tiff"):
        deep = _read_16bit(path)
        if deep is not None:
            return deep[..., :3].copy(), (deep[..., 3].copy() if deep.shape[2] == 4 else None)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    rgba = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    return rgba[..., :3].copy(), (rgba[..., 3].copy() if has_alpha else None)


def read_content(path: str | Path, what: str = "content image") -> Content:
    """Read a picture (PNG straight, EXR premultiplied: unpremultiplied here) as alpha.Content."""
    return prepare(*read_image(path, what))


def read_rgb(path, what: str = "image") -> np.ndarray:
    """Only the colour of an image; alpha is dropped."""
    return read_image(path, what)[0]


def check_output_path(path) -> Path:
    """Fail before any work if the output cannot be written: unknown format, missing or read-only folder."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise EngineError(f"output {path} has an unsupported extension; use one of {', '.join(OUTPUT_FORMATS)}")
    folder = path.parent
    if not folder.is_dir():
        raise EngineError(f"output folder {folder} does not exist; create it first")
    if path.is_dir():
        raise EngineError(f"output {path} is a folder; give a file name")
    try:  # a real probe: permissions, read-only mounts and special folders all show up here
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EngineError(f"output folder {folder} is not writable ({exc.strerror}); choose another folder or fix "
                          "its permissions") from None
    return path


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one step, else it is removed.

    Every file the engine writes goes through here, so through protocol's guard first: `path` is never one of the
    running job's inputs. The temporary file, `.<name>.<host>-<pid>.<random>.part`, is never seen under the final name. One left behind
    by a writer that was killed (its process gone) is removed by the next write of the same file, on POSIX.
    A test hook (engine.runtime.faults.PAUSE_BEFORE_REPLACE_ENV) can pause it before the replace.
    """
    path = Path(path)
    refuse_replacing(path)
    _remove_stale_temps(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.{socket.gethostname()}-{os.getpid()}.", suffix=".part",
                                dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temp, 0o666 & ~umask)  # the permissions a plainly created file would get, not mkstemp's 0600
        yield Path(temp)
        os.chmod(temp, 0o666 & ~umask)  # again: some writers (safetensors) make the file anew
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        pause_before_replace(path, Path(temp))
        os.replace(temp, path)
    except OSError as exc:
        _remove_quietly(temp)
        if exc.errno == errno.ENOSPC:
            raise EngineError(f"the disk is full while writing {path}; free some space and run again") from None
        raise EngineError(f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions and space") \
            from None
    except BaseException:
        _remove_quietly(temp)
        raise


def _remove_stale_temps(path: Path) -> None:
    """Remove the temporary files of `path` that writers on this machine, since killed, left behind."""
    if os.name != "posix":
        return  # no cheap test of a process being alive there; the hidden .part files are harmless
    prefix = f".{path.name}.{socket.gethostname()}-"
    for temp in path.parent.glob(glob.escape(prefix) + "*.part"):
        pid = temp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            _remove_quietly(temp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_quietly(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_image(path, rgb: np.ndarray, settings: dict | None = None, alpha: np.ndarray | None = None) -> Path:
    """Write sRGB pixels atomically; settings go into a PNG text chunk, an EXR attribute, or a sidecar JSON."""
    path = check_output_path(path)
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    rgb = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    settings_json = json.dumps(settings, sort_keys=True) if settings is not None else None
    with atomic_path(path) as temp:
        if fmt == "EXR":
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            if settings_json:
                header[SETTINGS_KEY] = settings_json
            linear = srgb_to_linear(rgb) if alpha is None else premultiply(srgb_to_linear(rgb), alpha)
            channels = {c: np.ascontiguousarray(linear[..., i]).astype(np.float16) for i, c in enumerate("RGB")}
            if alpha is not None:
                channels["A"] = np.ascontiguousarray(alpha).astype(np.float16)
            OpenEXR.File(header, channels).write(str(temp))
        else:
            if alpha is not None and fmt == "JPEG":  # no alpha in JPEG: composited over black, as Blender does
                rgb = premultiply(rgb, np.clip(alpha, 0, 1))
            pixels = np.rint(rgb * 255.0).astype(np.uint8)
            if alpha is not None and fmt != "JPEG":
                pixels = np.concatenate([pixels, np.rint(np.clip(alpha, 0, 1) * 255.0).astype(np.uint8)[..., None]], -1)
            image = Image.fromarray(pixels)
            options = {}
            if fmt == "PNG" and settings_json:
                info = PngImagePlugin.PngInfo()
                info.add_itxt(SETTINGS_KEY, settings_json)
                options["pnginfo"] = info
            if fmt == "JPEG":
                options["quality"] = 95
            image.save(temp, format=fmt, **options)
        if settings_json and fmt in ("JPEG", "TIFF"):  # the sidecar first: a failure there leaves neither file
            with atomic_path(path.with_name(path.name + ".json")) as sidecar:
                sidecar.write_text(json.dumps(dict(settings, **{SIDECAR_IMAGE_KEY: _sha256(temp)}), sort_keys=True))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refuse_replacing(path, what: str = "") -> None:
    """The guard of every write, called again before any work for the outputs a job names: never one of the running
    job's inputs, and, unless the job may (--overwrite), never an existing file that this engine did not write."""
    path = Path(path)
    try:
        refuse_writing(path, what or "a file the job writes")
    except OverwritesInput as exc:
        raise EngineError(str(exc)) from None
    if os.path.lexists(path) and not path.is_dir() and not may_replace_others() and not written_by_engine(path):
        raise EngineError(f"{what}{' ' if what else ''}{path} exists and this engine did not write it; give "
                          "--overwrite to replace it, or choose another name")


def with_sidecar(path) -> list[Path]:
    """The files writing the image `path` creates: the image, and for JPEG and TIFF its settings sidecar."""
    path = Path(path)
    sidecar = [path.with_name(path.name + ".json")] if OUTPUT_FORMATS.get(path.suffix.lower()) in ("JPEG", "TIFF") \
        else []
    return [path, *sidecar]


OUR_METADATA_KEYS = ("nst", "nst-engine", SETTINGS_KEY)  # a safetensors file of ours carries one of these


def written_by_engine(path) -> bool:
    """Whether an existing file is one this engine wrote (an image with its settings, a sidecar, a plot, a model,
    a checkpoint or a cache entry), so a job may replace it without --overwrite."""
    path = Path(path)
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            record = json.loads(path.read_text())
            return isinstance(record, dict) and (SIDECAR_IMAGE_KEY in record or "nst-engine" in record)
        if suffix == ".safetensors":
            with safe_open(str(path), framework="np") as handle:
                return any(key in (handle.metadata() or {}) for key in OUR_METADATA_KEYS)
        if suffix == ".exr":
            return SETTINGS_KEY in OpenEXR.File(str(path), header_only=True).header()
        if path.with_name(path.name + ".json").is_file():  # JPEG/TIFF: the sidecar says so
            return written_by_engine(path.with_name(path.name + ".json"))
        with Image.open(path) as image:
            return SETTINGS_KEY in image.info
    except Exception:  # noqa: BLE001 - a file we cannot read as ours is not ours
        return False


def read_settings(path) -> dict | None:
    """The settings an output of ours carries (PNG chunk, EXR attribute or sidecar JSON), or None."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        value = OpenEXR.File(str(path)).header().get(SETTINGS_KEY)
        return json.loads(value) if value else None
    sidecar = path.with_name(path.name + ".json")
    if sidecar.exists():  # only the sidecar written with this very image counts (two jobs may race on one name)
        settings = json.loads(sidecar.read_text())
        return settings if settings.pop(SIDECAR_IMAGE_KEY, None) == _sha256(path) else None
    with Image.open(path) as image:
        value = image.info.get(SETTINGS_KEY)
    return json.loads(value) if value else None
