"""Frame ranges as people type them ('12-24', '7') and the contiguous chunks a farm cuts a shot into."""

from __future__ import annotations


class FrameRangeError(ValueError):
    """A frame range that cannot be used; the message names the option and the fix."""


def parse_frame_range(text: str, option: str = "--frames") -> tuple[int, int]:
    """'12-24' or '7' as (first, last); a leading '-' is a negative frame ('-5-10')."""
    text = str(text).strip()
    sign = "-" if text.startswith("-") else ""
    first, dash, last = text[len(sign):].partition("-")
    try:
        start = int(sign + first)
        end = int(last) if dash else start
    except ValueError:
        raise FrameRangeError(f"{option} '{text}' is not A-B (for example 1-24)") from None
    if end < start:
        raise FrameRangeError(f"{option} '{text}': the last frame comes before the first")
    return start, end


def split_chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """Contiguous chunks of at most `size` frames covering first..last."""
    if size < 1:
        raise FrameRangeError(f"chunk size {size}: give at least 1 frame per chunk")
    if last < first:
        raise FrameRangeError(f"frames {first}-{last}: the last frame comes before the first")
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]
