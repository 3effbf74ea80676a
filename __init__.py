"""The Blender extension's entry point: Blender loads this folder (the one with the manifest) as a package.

Registration is delegated to `nst_addon`, which holds the add-on; `engine/` beside it is the worker's code.
Imports happen inside the functions, so that importing this folder outside Blender (pytest does) is harmless.
"""


def register() -> None:
    from .nst_addon import register as register_addon

    register_addon()


def unregister() -> None:
    from .nst_addon import unregister as unregister_addon

    unregister_addon()
