"""Stylized layers in the compositor: the "NST Mix" node group, and a scene's compositor set up to mix a frame's
compositor layers (the EXR `engine/imageio/compositor_layers.py` writes: the view layer's passes and a
`Stylized` layer).

NST Mix blends Raw and Stylized by Factor × Mask: Mask is 1 for the whole frame, or an object's matte (an ID Mask
node on the Object Index pass, or a Cryptomatte node), so objects can be stylized, raw or in between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from .worker_client import AddonError

MIX_GROUP = "NST Mix"
STYLIZED_LAYER = "Stylized"  # engine/imageio/compositor_layers.py's layer name
INPUTS = (("Raw", "NodeSocketColor"), ("Stylized", "NodeSocketColor"), ("Mask", "NodeSocketFloat"),
          ("Factor", "NodeSocketFloat"))


def _new(tree: bpy.types.NodeTree, kind: str) -> Any:
    """A new node of `kind` (typed loosely: each kind has its own settings and sockets)."""
    return tree.nodes.new(kind)


def mix_group() -> bpy.types.NodeTree:
    """The NST Mix group, built once per file (an existing one is reused as it is)."""
    existing = bpy.data.node_groups.get(MIX_GROUP)
    if existing is not None:
        return existing
    group = bpy.data.node_groups.new(MIX_GROUP, "CompositorNodeTree")
    for name, socket_type in INPUTS:
        socket = group.interface.new_socket(name, in_out="INPUT", socket_type=socket_type)
        if socket_type == "NodeSocketFloat":
            socket.default_value, socket.min_value, socket.max_value = 1.0, 0.0, 1.0
    group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    given, result = _new(group, "NodeGroupInput"), _new(group, "NodeGroupOutput")
    amount = _new(group, "ShaderNodeMath")
    amount.operation, amount.use_clamp = "MULTIPLY", True
    mix = _new(group, "ShaderNodeMix")
    mix.data_type = "RGBA"
    colour_a = next(s for s in mix.inputs if s.identifier == "A_Color")
    colour_b = next(s for s in mix.inputs if s.identifier == "B_Color")
    colour_out = next(s for s in mix.outputs if s.identifier == "Result_Color")
    group.links.new(given.outputs["Factor"], amount.inputs[0])
    group.links.new(given.outputs["Mask"], amount.inputs[1])
    group.links.new(amount.outputs[0], mix.inputs["Factor"])
    group.links.new(given.outputs["Raw"], colour_a)
    group.links.new(given.outputs["Stylized"], colour_b)
    group.links.new(colour_out, result.inputs["Image"])
    given.location, amount.location, mix.location, result.location = (-400, 0), (-200, 150), (0, 0), (200, 0)
    return group


def mix_layers(scene: bpy.types.Scene, layers_file: Path, view_layer: str = "ViewLayer") -> bpy.types.Node:
    """Give `scene` a compositor that reads `layers_file` (raw: `view_layer`'s Combined; the Stylized layer) into
    NST Mix and out; returns the NST Mix node (its Factor and Mask are the artist's)."""
    if not layers_file.is_file():
        raise AddonError(f"the compositor layers {layers_file} do not exist; turn on Compositor Layers and render "
                         "with Stylize on Render first")
    image = bpy.data.images.load(str(layers_file), check_existing=True)
    tree = scene.compositing_node_group or bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
    scene.compositing_node_group = tree
    raw, stylized = (_new(tree, "CompositorNodeImage") for _ in range(2))
    raw.image = stylized.image = image
    try:
        raw.layer, stylized.layer = view_layer, STYLIZED_LAYER
    except TypeError:
        raise AddonError(f"{layers_file} has no '{view_layer}' and '{STYLIZED_LAYER}' layers; choose a file "
                         "Stylize on Render wrote with Compositor Layers on") from None
    mix = _new(tree, "CompositorNodeGroup")
    mix.node_tree = mix_group()
    output = next((node for node in tree.nodes if node.bl_idname == "NodeGroupOutput"), None)
    if output is None:
        output = _new(tree, "NodeGroupOutput")
    if not tree.interface.items_tree:
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    tree.links.new(raw.outputs["Combined"], mix.inputs["Raw"])
    tree.links.new(stylized.outputs["Combined"], mix.inputs["Stylized"])
    tree.links.new(mix.outputs["Image"], output.inputs[0])
    raw.location, stylized.location, mix.location, output.location = (-500, 200), (-500, -150), (-150, 0), (150, 0)
    return mix
