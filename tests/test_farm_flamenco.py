"""The Flamenco job type's and the stand-in Manager's own tests (tests/flamenco/*.test.mjs, Node's test runner), run
from pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_TESTS = Path(__file__).resolve().parent / "flamenco"


def test_flamenco_job_type_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the Flamenco job type (JavaScript) cannot be tested without it")
    tests = sorted(str(p) for p in NODE_TESTS.glob("*.test.mjs"))
    assert tests, f"no Node tests in {NODE_TESTS}"
    done = subprocess.run([node, "--test", *tests], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
