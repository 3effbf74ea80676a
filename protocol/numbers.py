"""Numbers on command lines, checked where they are parsed: argparse types that refuse a value outside the option's
range (zero pixels, negative weights, NaN) with one line naming the range, instead of letting it mean something
else later. Every numeric option of the engine's command line, the batch entry and the farm stages uses them.
"""

from __future__ import annotations

import argparse
import math


def _show(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


class _Bounded:
    """An argparse type: a whole number or a number within [minimum, maximum] (`above`: strictly greater)."""

    def __init__(self, kind: type, minimum: float | None, maximum: float | None, above: float | None) -> None:
        self.kind, self.minimum, self.maximum, self.above = kind, minimum, maximum, above
        self.__name__ = "whole number" if kind is int else "number"  # argparse names the type in some messages

    def describe(self) -> str:
        noun = "a whole number" if self.kind is int else "a number"
        high = "" if self.maximum is None else _show(self.maximum)
        if self.above is not None:
            return f"{noun} above {_show(self.above)}" + (f", up to {high}" if high else "")
        if self.minimum is not None:
            low = _show(self.minimum)
            return f"{noun} between {low} and {high}" if high else f"{noun} of {low} or more"
        return f"{noun} up to {high}" if high else noun

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {self.describe()}") from None
        if (isinstance(value, float) and not math.isfinite(value)) or \
                (self.minimum is not None and value < self.minimum) or \
                (self.above is not None and value <= self.above) or \
                (self.maximum is not None and value > self.maximum):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {self.describe()}")
        return value

    def __repr__(self) -> str:
        return self.describe()


def whole(minimum: int | None = None, maximum: int | None = None) -> _Bounded:
    """Whole numbers in [minimum, maximum] (either end open when None)."""
    return _Bounded(int, minimum, maximum, None)


def number(minimum: float | None = None, maximum: float | None = None, above: float | None = None) -> _Bounded:
    """Finite numbers in [minimum, maximum], or greater than `above`."""
    return _Bounded(float, minimum, maximum, above)


def is_checked(kind) -> bool:
    """Whether an argparse type is one of these (tests use it: no numeric option is left as plain int or float)."""
    return isinstance(kind, _Bounded)


SEED = whole(0, 2**32 - 1)
PIXELS = whole(16, 65_536)  # a side in pixels: VGG-19 needs 16
ITERATIONS = whole(1, 1_000_000)
SCALES = whole(1, 16)
FRACTION = number(0.0, 1.0)
WEIGHT = number(0.0, 1e12)
