// The stand-in behaves like Flamenco Manager's globals: these cases are the Manager's own Go tests
// (internal/manager/job_compilers/js_globals_test.go, author.go), restated.

import assert from "node:assert/strict";
import { test } from "node:test";

import { author, frameChunker, frameCount, path } from "../../bench/farm/flamenco_standin.mjs";

test("frameChunker chunks like the Manager, two-frame runs written as lists", () => {
  const expected = ["1-4", "5-8", "9,10,20,21", "22-25", "40"];
  assert.deepEqual(frameChunker("1..10,20..25,40,3..8", 4), expected);
  assert.deepEqual(frameChunker("1-10,20-25,40", 4), expected);
  assert.deepEqual(frameChunker(" 1  .. 10,\t20..25\n,40   ", 4), expected);
  assert.deepEqual(frameChunker("47", 4), ["47"]);
  assert.deepEqual(frameChunker("1-3", 3), ["1-3"]);
  assert.deepEqual(frameChunker("1-5", 3), ["1-3", "4,5"]);
});

test("frameChunker and frameCount refuse what the Manager refuses", () => {
  assert.throws(() => frameChunker("   ", 4), /empty range/);
  assert.throws(() => frameChunker(" 1 10", 4), /1 10/);
  assert.throws(() => frameChunker("1-10", 0), /invalid chunk size/);
  assert.equal(frameCount("1..10,20..25,40"), 17);
  assert.equal(frameCount("3-8,5"), 6);
});

test("author.Task and author.Command build tasks like the Manager's author module", () => {
  const task = author.Task("  render-1-3 ", " blender");
  assert.equal(task.name, "render-1-3");
  assert.equal(task.type, "blender");
  assert.equal(task.priority, 50);
  const command = author.Command("exec", { exe: "true", args: [] });
  task.addCommand(command);
  assert.deepEqual(task.commands, [{ name: "exec", parameters: { exe: "true", args: [] } }]);
  const other = author.Task("b", "misc");
  other.addDependency(task);
  assert.equal(other.dependencies[0], task);
  assert.throws(() => author.Task("", "blender"), /name is required/);
  assert.throws(() => author.Task("x", " "), /type is required/);
});

test("path mirrors crosspath: forward slashes, stem without extension", () => {
  assert.equal(path.join("/farm/out", "stylized", "frame_*.png"), "/farm/out/stylized/frame_*.png");
  assert.equal(path.stem("/jobs/shot010.flamenco.blend"), "shot010.flamenco");
  assert.equal(path.basename("C:\\jobs\\shot.blend"), "shot.blend");
  assert.equal(path.dirname("/jobs/shot.blend"), "/jobs");
});
