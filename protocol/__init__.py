"""The add-on's and the engine's shared vocabulary: the worker protocol's version, messages and schema, the
enumerations, and frame ranges. Standard library only, so Blender's Python, the engine and the farm all import it.
"""

from . import numbers  # the command lines' argparse types: protocol.numbers.whole(1), ...
from .enums import CHUNKINGS, DEVICES, METHODS, PRESERVE_COLORS, Chunking, Device, Method, PreserveColor
from .frames import FrameRangeError, parse_frame_range, split_chunks
from .messages import (MAX_QUOTED_MESSAGE, PROTOCOL_VERSION, BadRequest, Event, Request, decode_event, decode_request,
                       excerpt)
from .paths import (OverwritesInput, check_request, guard_job_inputs, refuse_emptying, refuse_input_folder, refuse_overwrite,
                    refuse_overwrite_all, refuse_writing, same_path, may_replace_others)
from .schema import REQUESTS, Field

__all__ = ["CHUNKINGS", "DEVICES", "MAX_QUOTED_MESSAGE", "METHODS", "PRESERVE_COLORS", "PROTOCOL_VERSION", "REQUESTS", "BadRequest",
           "Chunking", "Device", "Event", "Field", "FrameRangeError", "Method", "OverwritesInput", "PreserveColor",
           "Request", "check_request", "guard_job_inputs", "decode_event", "decode_request", "excerpt", "numbers", "parse_frame_range",
           "refuse_emptying", "refuse_input_folder", "refuse_overwrite", "refuse_overwrite_all", "refuse_writing", "same_path", "may_replace_others", "split_chunks"]
