"""The worker survives any line: thousands of generated and mutated requests (dropped fields, wrong types, deep
nesting, junk bytes, huge strings and numbers) go to one real worker process, one at a time. Each gets exactly one
reply (refused lines: bad_input or protocol, naming the field the protocol layer names), the worker never dies or
prints a traceback, and a real stylization still works afterwards.

Valid-looking requests name files that do not exist, so none of them starts heavy work.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import PROTOCOL_VERSION, BadRequest, decode_request, excerpt
from support import REPO, STYLES

MIN_REQUESTS = 2000
ENDINGS = ("ready", "check", "result", "error", "cancelled")
MISSING = "/nonexistent-nst-fuzz"
HUGE = {"__HUGE_INT__": "9" * 5000, "__HUGE_FLOAT__": "1e999", "__NEG_HUGE__": "-" + "7" * 400}


def seeds(out: str) -> list[dict]:
    """One valid request of each type the worker runs, every input a missing file."""
    engine = {"device": "cpu", "cache_dir": None}
    return [
        {"type": "hello"},
        {"type": "stylize", "content": f"{MISSING}/a.png", "output": f"{out}/a.png", "styles": [f"{MISSING}/s.jpg"],
         "options": {"size_px": 32, "iterations": 1, "scales": 1, "preserve_color": "none"}, "style_blend": [1.0],
         "regions": {"1": {"keep_original": True}, "2": {"styles": [f"{MISSING}/t.jpg"], "strength": 0.5}},
         "mask": f"{MISSING}/ids.exr", "ignore_absent_regions": True, **engine},
        {"type": "stylize_sequence", "styles": [f"{MISSING}/s.jpg"], "options": {"size_px": 32, "iterations": 1},
         "frames": [{"content": f"{MISSING}/f1.png", "output": f"{out}/f1.png", "passes": None, "number": 1}],
         "chunk": {"first": 1, "last": 1, "chunking": "strict", "warmup": 0}, "temporal": True, **engine},
        {"type": "join_chunks", "output_dir": f"{MISSING}/stylized", "overwrite": False},
        {"type": "stylize_texture", "texture": f"{MISSING}/t.png", "output": f"{out}/t.png",
         "styles": [f"{MISSING}/s.jpg"], "seamless": True, "options": {"iterations": 1}, **engine},
        {"type": "train", "style": f"{MISSING}/s.jpg", "content_dirs": [f"{MISSING}/frames"], "output": f"{out}/m.st",
         "device": "cpu", "settings": {"steps": 1, "crop_px": 32}},
        {"type": "cancel", "job": "nobody"},
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def paths_in(value, prefix=()) -> list[tuple]:
    """Every position inside a message, as keys and indices from the top."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found.append((*prefix, key))
        found += paths_in(item, (*prefix, key))
    return found


def parent_of(message, path):
    for key in path[:-1]:
        message = message[key]
    return message


@st.composite
def request_lines(draw, out: str) -> bytes:
    message = copy.deepcopy(draw(st.sampled_from(seeds(out))))
    message = {"v": PROTOCOL_VERSION, "job": "JOB", **message}
    plan = draw(st.sampled_from(("fields", "line")))
    mutations = ("drop", "retype", "nest", "huge_string", "huge_number", "unknown_field", "version")
    for mutation in draw(st.lists(st.sampled_from(mutations), max_size=3)):
        places = [p for p in paths_in(message) if p != ("v",)]
        if mutation == "version":
            message["v"] = draw(json_values)
            continue
        if mutation == "unknown_field":
            holders = [()] + [p for p in places if isinstance(parent_of(message, (*p, None)), dict)]
            holder = parent_of(message, (*draw(st.sampled_from(holders)), None))
            holder[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
            continue
        if not places:
            continue
        place = draw(st.sampled_from(places))
        parent, key = parent_of(message, place), place[-1]
        if mutation == "drop":
            del parent[key]
        elif mutation == "retype":
            parent[key] = draw(json_values)
        elif mutation == "nest":
            for _ in range(draw(st.integers(1, 40))):
                parent[key] = draw(st.sampled_from(([parent[key]], {"x": parent[key]})))
        elif mutation == "huge_string":
            parent[key] = draw(st.text(min_size=1, max_size=4)) * draw(st.integers(1000, 60_000))
        else:
            parent[key] = draw(st.sampled_from(sorted(HUGE) + [float("nan"), float("inf"), -float("inf")]))
    line = json.dumps(message).encode()
    for marker, digits in HUGE.items():
        line = line.replace(f'"{marker}"'.encode(), digits.encode())
    wrap = draw(st.sampled_from(("junk", "truncate", "deep", "list"))) if plan == "line" else "none"
    if wrap == "junk":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.binary(min_size=1, max_size=16)).replace(b"\n", b"") + line[at:]
    elif wrap == "truncate":
        line = line[:draw(st.integers(0, len(line)))]
    elif wrap == "deep":
        depth = draw(st.integers(1, 3000))
        line = b"[" * depth + line + b"]" * depth
    elif wrap == "list":
        line = b"[" + line + b"]"
    return line


class Worker:
    """One real `python -m engine worker`, its replies read on a thread."""

    def __init__(self, folder):
        env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(folder))  # HOME: style-target caches stay in here
        self.stderr = open(folder / "stderr.txt", "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=folder, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.replies.put(json.loads(line))

    def ask(self, line: bytes, timeout_s: float = 60) -> dict:
        """Send one line; the one event that ends it (progress events before it are skipped)."""
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()
        while True:
            try:
                event = self.replies.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"no reply within {timeout_s} s to {line[:300]!r} (worker alive: "
                                     f"{self.process.poll() is None})") from None
            if event["type"] in ENDINGS:
                return event


@pytest.fixture
def worker(tmp_path):
    """A started worker: it has answered a hello (its start imports torch, which a busy machine makes slow)."""
    started = Worker(tmp_path)
    assert started.ask(b'{"v": 1, "type": "hello", "job": "start"}', timeout_s=300)["type"] == "ready"
    yield started
    started.process.kill()
    started.process.wait()
    started.stderr.close()


def test_the_lines_that_killed_the_worker_each_get_one_reply_naming_the_field(worker, tmp_path):
    stylize = {"v": 1, "type": "stylize", "job": "j", "content": "a.png", "output": str(tmp_path / "o.png")}
    cases = [
        (b"[" * 1100, None, "request"),  # 1.1 KB that raised RecursionError in the reader
        (b"\xff\xfe\x00{}", None, "request"),
        (json.dumps({**stylize, "options": {"size_px": 1}}).replace('"size_px": 1', '"size_px": ' + "9" * 5000)
         .encode(), "j", "options.size_px"),
        (json.dumps({**stylize, "options": {"style_strength": float("nan")}}).encode(), "j", "options.style_strength"),
        (json.dumps({k: v for k, v in stylize.items() if k != "output"}).encode(), "j", "output"),
        (json.dumps({**stylize, "options": "fast"}).encode(), "j", "options"),
        (json.dumps({**stylize, "type": ["stylize"]}).encode(), "j", "type"),
        (json.dumps({**stylize, "options": {"colour": "red"}}).encode(), "j", "options.colour"),
    ]
    for line, job, field in cases:
        reply = worker.ask(line)
        assert (reply["type"], reply["kind"], reply["job"], reply["field"]) == ("error", "bad_input", job, field)
        assert reply["message"].startswith(f"{field}: ") or field == "request", reply
    assert worker.ask(b'{"v": 1, "type": "hello", "job": "after"}')["type"] == "ready"
    assert worker.replies.empty() and worker.process.poll() is None  # one reply each, and still running
    worker.stderr.seek(0)
    assert worker.stderr.read() == ""  # nothing on stderr at all, so no traceback


def test_the_worker_answers_every_line_once_and_keeps_working(worker, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sent, kinds, internal, began = [0], {}, [], time.monotonic()

    valid = [json.dumps({"v": PROTOCOL_VERSION, "job": "JOB", **seed}).encode() for seed in seeds(str(out))]

    @settings(max_examples=MIN_REQUESTS // 2 + 250, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(line=request_lines(str(out)))
    def mutated_then_valid(line: bytes):  # every mutated line is followed by a valid one of the next type
        one_line(line)
        one_line(valid[sent[0] % len(valid)])

    def one_line(line: bytes):
        if not line.strip():
            return  # blank lines are skipped without a reply, by design
        job = f"job{sent[0]}"
        line = line.replace(b'"JOB"', json.dumps(job).encode())
        refused: BadRequest | None = None
        try:
            request = decode_request(line)
        except BadRequest as bad:
            refused = bad
            reply = worker.ask(line)
            assert reply["type"] == "error" and reply["kind"] == refused.kind, reply
            quoted_job = None if refused.job is None else excerpt(refused.job)  # long ids come back cut and marked
            assert (reply["job"], reply["field"]) == (quoted_job, refused.field), reply
        else:
            if request.type in ("cancel", "shutdown"):
                return  # they end a job or the worker and are answered by that job's own reply
            reply = worker.ask(line)
            assert reply["job"] == request.job, (reply, line[:300])
        assert worker.process.poll() is None, f"the worker died after {line[:300]!r}"
        if reply.get("kind") == "internal":
            internal.append((reply["message"][:300], line[:300]))
        kind = f"{reply.get('kind', reply['type'])} ({'refused by the protocol' if refused else 'run'})"
        kinds[kind] = kinds.get(kind, 0) + 1
        sent[0] += 1
        if sent[0] % 500 == 0:  # valid requests keep working between the bad ones
            assert worker.ask(json.dumps({"v": 1, "type": "hello", "job": f"alive{sent[0]}"}).encode())["type"] \
                == "ready"

    mutated_then_valid()
    elapsed_s = time.monotonic() - began
    print(f"{sent[0]} requests in {elapsed_s:.1f} s; replies by kind: {kinds}")
    assert sent[0] >= MIN_REQUESTS
    assert not internal, internal  # every failure is the request's, and says what is wrong
    run = sum(count for kind, count in kinds.items() if kind.endswith("(run)"))
    assert run >= MIN_REQUESTS // 3 and kinds["protocol (refused by the protocol)"] > 0, kinds  # both sides are exercised

    real = {"v": 1, "type": "stylize", "job": "real", "content": str(STYLES / "shipwreck.jpg"),
            "styles": [str(STYLES / "starry_night.jpg")], "output": str(out / "real.png"), "device": "cpu",
            "cache_dir": None, "options": {"size_px": 32, "iterations": 2, "scales": 1}}
    reply = worker.ask(json.dumps(real).encode(), timeout_s=120)
    assert reply["type"] == "result" and (out / "real.png").is_file(), reply
    worker.stderr.seek(0)
    assert "Traceback" not in worker.stderr.read()
