"""How far the golden cases move under rounding (other vector kernels, thread counts) and under real changes.

Each variant runs the golden cases it applies to in a child `python tests/golden/noise.py --child ...` started with its
environment (oneDNN's and ATen's instruction-set caps are read when torch loads, so they cannot be set in-process),
then compares the pictures with tests/golden/expected/ as tests/test_golden.py does and prints one row per variant:
the worst PSNR/SSIM over each group of cases, and whether the guard passed. The noise rows must all pass, the real
changes must all fail; docs/golden.md's tables come from this script:

    .venv/bin/python tests/golden/noise.py                     # every variant (about 5 minutes on 2 cores)
    .venv/bin/python tests/golden/noise.py --variants avx2 sse41 iterations+1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
sys.path.insert(0, str(GOLDEN.parents[1]))
sys.path.insert(0, str(GOLDEN.parent))

from golden.record import CASES, EXPECTED, run_case  # noqa: E402

QUALITY = ("stylize_plain", "stylize_regions", "stylize_preserve_colour")
TEXTURES = ("texture_flat", "texture_seamless")
SEQUENCES = ("sequence_temporal", "sequence_temporal_chunk")
FAST = ("fast_starry_night", "fast_alpha", "fast_any_style")
GROUPS = {"quality": QUALITY, "textures": TEXTURES, "sequence (whole)": ("sequence_temporal",),
          "chunk": ("sequence_temporal_chunk",), "fast": (*FAST, "sequence_fast")}


@dataclass(frozen=True)
class Variant:
    """One way of running the cases: an environment and thread count (noise), or extra arguments (a real change)."""

    name: str
    noise: bool  # True: the guard must pass; False: a real change, which the guard must catch
    env: dict = field(default_factory=dict)
    threads: int = 1
    extra: tuple[str, ...] = ()
    cases: tuple[str, ...] = tuple(case.name for case in CASES)


VARIANTS = (
    Variant("own kernels", True),
    *(Variant(f"oneDNN {isa}", True, {"ONEDNN_MAX_CPU_ISA": isa}) for isa in ("SSE41", "AVX2", "AVX512_CORE")),
    *(Variant(f"ATen {cap}", True, {"ATEN_CPU_CAPABILITY": cap}) for cap in ("default", "avx2", "avx512")),
    *(Variant(f"{threads} threads", True, threads=threads) for threads in (2, 3, 4)),
    Variant("oneDNN AVX2, 2 threads", True, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, threads=2),
    Variant("one more iteration", False, extra=("--iterations", "7"), cases=QUALITY + SEQUENCES),
    Variant("one more texture iteration", False, extra=("--iterations", "11"), cases=TEXTURES),
    Variant("content weight +10%", False, extra=("--content-weight", "1.1"), cases=QUALITY + TEXTURES),
    Variant("style weight +10%", False, extra=("--style-weight", "33"), cases=QUALITY + TEXTURES),
    Variant("temporal weight +10%", False, extra=("--temporal-weight", "55"), cases=("sequence_temporal_chunk",)),
    Variant("no temporal term", False, extra=("--no-temporal",), cases=SEQUENCES),
    Variant("--strength 0.9", False, extra=("--strength", "0.9"), cases=FAST),
    Variant("--fast-blend 0.66", False, extra=("--fast-blend", "0.66"), cases=("sequence_fast",)),
)


def run_child(out: Path, threads: int, extra: tuple[str, ...], cases: list[str]) -> None:
    """In the child: run `cases` with `extra` arguments appended (argparse keeps the last of a repeated option)."""
    import torch

    torch.set_num_threads(threads)
    for case in CASES:
        if case.name in cases:
            run_case(replace(case, argv=(*case.argv, *extra)), out / case.output_name)


def measure(variant: Variant, thresholds: dict) -> dict:
    """Run `variant` in a child process; the worst (PSNR, SSIM) per case and whether each case passed."""
    from engine.measures.reference import compare_to_reference

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        command = [sys.executable, __file__, "--child", str(out), "--threads", str(variant.threads),
                   "--cases", *variant.cases, "--extra", json.dumps(list(variant.extra))]
        subprocess.run(command, env={**os.environ, **variant.env}, check=True, stdout=subprocess.DEVNULL)
        results = {}
        for name in variant.cases:
            output_name = next(case.output_name for case in CASES if case.name == name)
            scores = compare_to_reference(out / output_name, EXPECTED / output_name)
            psnr, ssim = min(s.psnr_db for s in scores), min(s.ssim for s in scores)
            min_psnr, min_ssim = thresholds[name]
            results[name] = (psnr, ssim, psnr >= min_psnr and ssim >= min_ssim)
    return results


def table_row(variant: Variant, results: dict) -> str:
    cells = []
    for members in GROUPS.values():
        here = [results[name] for name in members if name in results]
        if not here:
            cells.append("")
            continue
        psnr, ssim = min(r[0] for r in here), min(r[1] for r in here)
        cells.append("identical" if psnr == float("inf") else f"{psnr:.2f} dB / {ssim:.5f}")
    passed = all(r[2] for r in results.values())
    verdict = "passes" if passed else "fails: " + ", ".join(n for n, r in results.items() if not r[2])
    ok = passed == variant.noise
    return f"| {variant.name} | " + " | ".join(cells) + f" | {verdict}{'' if ok else ' (WRONG)'} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", help="names as in VARIANTS, matched case-insensitively by prefix")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.threads, tuple(json.loads(args.extra)), args.cases)
        return 0
    from test_golden import THRESHOLDS

    wanted = [v for v in VARIANTS if not args.variants
              or any(v.name.lower().startswith(w.lower()) for w in args.variants)]
    print("| variant | " + " | ".join(GROUPS) + " | guard |")
    print("|---|" + "---|" * (len(GROUPS) + 1))
    wrong = 0
    for variant in wanted:
        results = measure(variant, THRESHOLDS)
        row = table_row(variant, results)
        wrong += row.endswith("(WRONG) |")
        print(row, flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
