"""The shared protocol layer: requests checked field by field, the schema kept in step with the engine, frame
ranges and chunks. (One protocol version for the whole codebase: tests/test_codebase_shape.py.)"""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from protocol import (
    CHUNKINGS,
    PROTOCOL_VERSION,
    REQUESTS,
    BadRequest,
    FrameRangeError,
    OverwritesInput,
    Request,
    decode_event,
    decode_request,
    parse_frame_range,
    refuse_emptying,
    split_chunks,
)
from protocol.schema import STYLIZE_OPTIONS, TEXTURE_OPTIONS, TRAIN_SETTINGS

STYLIZE = {"v": PROTOCOL_VERSION, "type": "stylize", "job": "j1", "content": "a.png", "output": "b.png",
           "styles": ["s.jpg"], "options": {"size_px": 64, "iterations": 3, "preserve_color": "luminance"},
           "regions": {"2": {"keep_original": True}, "5": {"styles": ["t.jpg"], "strength": 0.5}}}


def refusal(message) -> BadRequest:
    line = message if isinstance(message, (str, bytes)) else json.dumps(message)
    with pytest.raises(BadRequest) as caught:
        decode_request(line)
    return caught.value


def test_a_valid_request_decodes_to_its_type_job_and_fields():
    request = decode_request(json.dumps(STYLIZE))
    assert (request.type, request.job) == ("stylize", "j1")
    assert request.fields["options"]["size_px"] == 64 and "v" not in request.fields
    assert json.loads(request.encode()) == STYLIZE


@pytest.mark.parametrize("change, field, words", [
    ({"output": None}, "output", "got null"),
    ({"output": ...}, "output", "missing"),
    ({"options": "fast"}, "options", "expected an object, got a string"),
    ({"type": ["stylize"]}, "type", "got a list"),
    ({"type": "paint"}, "type", "unknown request type 'paint'"),
    ({"colour": 1}, "colour", "unknown field"),
    ({"options": {"size_px": 64, "colour": 1}}, "options.colour", "unknown field"),
    ({"options": {"size_px": 64.5}}, "options.size_px", "whole number"),
    ({"options": {"size_px": True}}, "options.size_px", "got true or false"),
    ({"options": {"size_px": 0}}, "options.size_px", "out of range"),
    ({"options": {"iterations": 10**30}}, "options.iterations", "out of range"),
    ({"options": {"style_strength": float("nan")}}, "options.style_strength", "NaN"),
    ({"options": {"preserve_color": "sepia"}}, "options.preserve_color", "not one of none, luminance, histogram"),
    ({"device": "tpu"}, "device", "not one of auto, cpu, cuda, mps"),
    ({"styles": ["a.jpg", 3]}, "styles[1]", "expected a string"),
    ({"regions": {"two": {}}}, "regions.two", "whole number"),
    ({"regions": {"2": {"strength": "strong"}}}, "regions.2.strength", "expected a number"),
])
def test_a_wrong_field_is_refused_by_name(change, field, words):
    message = {**STYLIZE, **{k: v for k, v in change.items() if v is not ...}}
    for key in (k for k, v in change.items() if v is ...):
        del message[key]
    error = refusal(message)
    assert (error.kind, error.field, error.job) == ("bad_input", field, "j1")
    assert words in str(error) and str(error).startswith(f"{field}: ")


@pytest.mark.parametrize("line, words", [
    ("[" * 1100, "nests too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("{\"v\": 1, \"type\": \"hello\", ", "not JSON"),
    ("[1, 2]", "is a list, not a JSON object"),
    ("\"hello\"", "is a string, not a JSON object"),
])
def test_unreadable_lines_are_refused_as_the_request(line, words):
    error = refusal(line)
    assert (error.kind, error.field, error.job) == ("bad_input", "request", None) and words in str(error)


def test_numbers_too_large_for_python_are_refused_by_field():
    line = json.dumps({**STYLIZE, "options": {"seed": 1}}).replace('"seed": 1', '"seed": ' + "9" * 5000)
    error = refusal(line)
    assert error.field == "options.seed" and "out of range" in str(error)
    assert refusal(json.dumps({**STYLIZE, "options": {"style_weight": 1e999}})).field == "options.style_weight"


def test_another_protocol_version_is_a_protocol_error():
    for version in (2, None, "1", True):
        error = refusal({**STYLIZE, "v": version})
        assert (error.kind, error.field, error.job) == ("protocol", "v", "j1")
    assert "protocol version 2 is not supported" in str(refusal({**STYLIZE, "v": 2}))


def test_lists_and_records_inside_requests_are_checked():
    sequence = {"v": 1, "type": "stylize_sequence", "job": "s",
                "frames": [{"content": "a.png", "output": "o.png", "number": 1}],
                "chunk": {"first": 1, "last": 4, "chunking": "overlap", "warmup": 2}}
    assert decode_request(json.dumps(sequence)).type == "stylize_sequence"
    sequence["frames"] = [{"content": "a.png", "output": "o.png"}]
    assert refusal({**sequence, "frames": []}).field == "frames"
    assert refusal({**sequence, "frames": [{"content": "a.png"}]}).field == "frames[0].output"
    assert refusal({**sequence, "chunk": {"first": 1, "last": 2, "chunking": "wild"}}).field == "chunk.chunking"
    assert refusal(sequence).field == "frames[0].number"  # a chunk finds its frames by number
    del sequence["chunk"]
    assert decode_request(json.dumps(sequence)).type == "stylize_sequence"
    train = {"v": 1, "type": "train", "job": "t", "style": "s.jpg", "content_dirs": ["d"], "output": "m.safetensors",
             "settings": {"steps": 10, "bogus": 1}}
    assert refusal(train).field == "settings.bogus"


def test_request_build_checks_what_the_add_on_sends():
    assert Request.build({"type": "cancel", "job": "x"}).encode() == '{"v": 1, "type": "cancel", "job": "x"}'
    with pytest.raises(BadRequest, match="job: missing"):
        Request.build({"type": "hello"})


def test_events_decode_and_stray_lines_do_not():
    event = decode_event('{"v": 1, "type": "error", "job": "a", "kind": "bad_input", "field": "output"}')
    assert event is not None and (event.type, event.job, event.fields["field"]) == ("error", "a", "output")
    assert event.as_dict()["type"] == "error"
    assert decode_event("loading weights...") is None and decode_event("[1]") is None


def test_option_tables_match_the_engine():
    """The schema lists exactly the settings the engine takes, so a new option cannot be forgotten in it."""
    from engine.fast.train import TrainSettings
    from engine.optimizer.options import StylizeOptions
    from engine.textures.texture import stylize_texture_files

    stylize = {f.name for f in dataclasses.fields(StylizeOptions)} - {"style_blend"}  # a region's, not a request's
    assert set(STYLIZE_OPTIONS) == stylize, "add new stylize options to protocol/schema.py"
    texture = set(inspect.signature(stylize_texture_files).parameters) - {  # less the files, the job and callbacks
        "engine", "texture_path", "style_paths", "output", "views", "object_index", "uv_mask_path", "seamless",
        "objective", "style_blend", "callback"}
    assert set(TEXTURE_OPTIONS) == texture | {"style_strength"}
    assert set(TRAIN_SETTINGS) == {f.name for f in dataclasses.fields(TrainSettings)}


def test_every_request_type_has_a_job_field():
    assert all("job" in table for table in REQUESTS.values())


def test_frame_ranges_and_chunks():
    assert parse_frame_range("12-24") == (12, 24) and parse_frame_range("7") == (7, 7)
    assert parse_frame_range("-5--1") == (-5, -1)
    for bad, words in (("1-x", "--frames '1-x' is not A-B"), ("9-3", "the last frame comes before the first")):
        with pytest.raises(FrameRangeError, match=words):
            parse_frame_range(bad)
    with pytest.raises(FrameRangeError, match="--shot"):
        parse_frame_range("", "--shot")
    assert split_chunks(1, 25, 10) == [(1, 10), (11, 20), (21, 25)]
    with pytest.raises(FrameRangeError, match="chunk size 0"):
        split_chunks(1, 5, 0)
    assert CHUNKINGS == ("strict", "overlap", "anchors")


def test_a_folder_holding_an_input_at_any_depth_is_not_emptied(tmp_path):
    jobs = tmp_path / "jobs" / "render"
    (jobs / "stylized").mkdir(parents=True)
    style = jobs / "stylized" / "earlier.png"
    style.write_bytes(b"png")
    with pytest.raises(OverwritesInput, match=r"a style \(.+earlier\.png\) is inside the job folder"):
        refuse_emptying(jobs, {"a style": [str(style)]})
    with pytest.raises(OverwritesInput):  # through a symlink to the folder too
        (tmp_path / "link").symlink_to(jobs)
        refuse_emptying(tmp_path / "link", {"a style": str(style)})
    beside = tmp_path / "jobs" / "render2" / "style.png"  # a name that only starts like the folder's is outside it
    refuse_emptying(jobs, {"a style": [str(beside)], "nothing": None})
