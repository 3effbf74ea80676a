"""The extension zip (built by Blender's own tool from blender_manifest.toml) holds the product and nothing else:
the add-on, the engine, the protocol layer, the farm job types and the batch entry; no benchmark, stand-in farm,
tests, docs or evidence scripts."""

from __future__ import annotations

import zipfile

PRODUCT = ["__init__.py", "blender_manifest.toml", "nst_addon/__init__.py", "engine/__main__.py", "engine/worker.py",
           "protocol/__init__.py", "farm/flamenco/nst_stylize.js", "farm/openjd/bundle.py", "scripts/blender_batch.py"]
NOT_PRODUCT = ("bench/", "tests/", "docs/", "scripts/", ".hypothesis/", "requirements-dev.txt", "requirements-lint.txt")


def test_the_zip_holds_the_product_and_no_tools(extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()
    assert set(PRODUCT) <= set(names), sorted(set(PRODUCT) - set(names))
    tools = [n for n in names if n.startswith(NOT_PRODUCT) and n != "scripts/blender_batch.py"]
    assert not tools, tools
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
