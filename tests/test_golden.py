"""Quality regression guard: every golden case, run through `python -m engine`, stays close to its recorded pictures.

The cases and their recorder are in tests/golden/record.py; docs/golden.md says what is recorded, how the noise was
measured and why the thresholds are where they are. A deliberate change to the pictures re-records the goldens
(`tests/golden/record.py --update`) in a commit of its own that says why.
"""

from __future__ import annotations

import pytest
from golden.record import CASES, EXPECTED, run_case

from engine.measures.reference import compare_to_reference, format_reference_table

# Lowest PSNR (dB) and SSIM each case's pictures may reach against the goldens, set from the noise and real-change
# table of tests/golden/noise.py (docs/golden.md): noise is every other vector-kernel set (oneDNN SSE41, AVX2,
# AVX512_CORE; ATen default, avx2, avx512) and 1-4 threads; real changes are one more iteration, content or style
# weight +10%, temporal weight +10%, no temporal term, --strength 0.9 and --fast-blend 0.66. Each pair sits between the
# worst noise and the smallest real change of its cases:
QUALITY = (53.5, 0.9992)  # noise >= 55.00 dB / 0.99944; content weight +10%: 52.12 dB / 0.99885
TEXTURE = (43.0, 0.9970)  # noise >= 46.30 dB / 0.99879; content weight +10%: 40.34 dB / 0.99487
# The whole temporal sequence: later frames start from frame 0's 8-bit result, whose 1/255 steps they amplify;
# noise >= 32.72 dB / 0.96962; one more iteration 30.12 dB / 0.92478, no temporal term 22.55 dB / 0.694.
WHOLE_SEQUENCE = (31.0, 0.95)
CHUNK = (55.0, 0.9995)  # continues the golden frame 0: noise >= 62.96 dB / 0.99996; temporal weight +10%: 49.06 dB
FEED_FORWARD = (60.0, 0.9995)  # noise >= 84.31 dB; --fast-blend 0.66: 45.94 dB / 0.99770; --strength 0.9: 25.81 dB
THRESHOLDS = {
    "stylize_plain": QUALITY,
    "stylize_regions": QUALITY,
    "stylize_preserve_colour": QUALITY,
    "fast_starry_night": FEED_FORWARD,
    "fast_alpha": FEED_FORWARD,
    "fast_any_style": FEED_FORWARD,
    "sequence_temporal": WHOLE_SEQUENCE,
    "sequence_temporal_chunk": CHUNK,
    "sequence_fast": FEED_FORWARD,
    "texture_flat": TEXTURE,
    "texture_seamless": TEXTURE,
}


def test_every_case_has_a_threshold():
    assert sorted(THRESHOLDS) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case_matches_its_golden(case, tmp_path, one_torch_thread):
    output = tmp_path / case.output_name
    run_case(case, output)
    scores = compare_to_reference(output, EXPECTED / case.output_name)
    min_psnr_db, min_ssim = THRESHOLDS[case.name]
    failing = [s for s in scores if s.psnr_db < min_psnr_db or s.ssim < min_ssim]
    assert not failing, (f"{case.name} moved from its golden (thresholds: PSNR {min_psnr_db} dB, SSIM {min_ssim}):\n"
                         f"{format_reference_table(scores)}\nIf the change is deliberate, re-record with "
                         "tests/golden/record.py --update in a commit of its own that says why.")


# Real changes the guard must catch (tests/golden/noise.py measures them all; these are the cheapest, and the two
# nearest to the noise). Each runs one case with the change's arguments appended (argparse keeps the last value).
REAL_CHANGES = [
    ("stylize_plain", ("--iterations", "7")),
    ("stylize_plain", ("--content-weight", "1.1")),
    ("sequence_temporal_chunk", ("--temporal-weight", "55")),
    ("sequence_fast", ("--fast-blend", "0.66")),
]


@pytest.mark.parametrize("name, extra", REAL_CHANGES, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_real_change_fails_the_guard(name, extra, tmp_path, one_torch_thread):
    from dataclasses import replace

    case = next(c for c in CASES if c.name == name)
    changed = replace(case, argv=(*case.argv, *extra))
    output = tmp_path / case.output_name
    run_case(changed, output)
    min_psnr_db, min_ssim = THRESHOLDS[name]
    scores = compare_to_reference(output, EXPECTED / case.output_name)
    assert any(s.psnr_db < min_psnr_db or s.ssim < min_ssim for s in scores), format_reference_table(scores)
