// The nst-stylize job type's task graph for each chunking strategy, compiled with the stand-in Flamenco globals:
// task names, types, every command's arguments, and dependencies; chunk edge cases; refused settings.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { loadJobType, withDefaults } from "../../bench/farm/flamenco_standin.mjs";

const SCRIPT = fileURLToPath(new URL("../../farm/flamenco/nst_stylize.js", import.meta.url));
const COMPILE_CLI = fileURLToPath(new URL("../../bench/farm/compile.mjs", import.meta.url));
const jobType = loadJobType(SCRIPT);

const SUBMITTED = {
  // What the Blender add-on evaluates from the scene and sends, plus the artist's choices.
  frames: "1-7", chunk_size: 3, blendfile: "/jobs/shot010.flamenco.blend", output_dir: "/farm/out/job1", fps: 24,
  method: "quality", size: 64, iterations: 5, styles: "/styles/a.jpg; /styles/b.jpg",
  batch_script: "{nst}/scripts/blender_batch.py",
};

function compile(overrides) {
  const job = jobType.compile(withDefaults(jobType.JOB_TYPE, { ...SUBMITTED, ...overrides }), "job1");
  return { names: job.tasks.map((t) => t.name), byName: Object.fromEntries(job.tasks.map((t) => [t.name, t])) };
}

// The batch entry's arguments of a task's only command (after `--python-exit-code 1 --python <script> --`).
function batchArgs(task) {
  assert.equal(task.commands.length, 1);
  const { name, parameters } = task.commands[0];
  assert.equal(name, "blender-render");
  assert.deepEqual(parameters.argsBefore, []);
  assert.equal(parameters.exe, "{blender}");
  assert.equal(parameters.exeArgs, "{blenderArgs}");
  assert.equal(parameters.blendfile, SUBMITTED.blendfile);
  assert.deepEqual(parameters.args.slice(0, 7), ["--python-exit-code", "1", "--python", "{nst}/scripts/blender_batch.py",
                                                 "--", "--output", "/farm/out/job1"]);
  return parameters.args.slice(7);
}

const ENGINE = ["--style", "/styles/a.jpg", "--style", "/styles/b.jpg", "--method", "quality", "--iterations", "5",
                "--device", "auto", "--size", "64"];

function assertRenders(byName, chunks) {
  for (const chunk of chunks) {
    const task = byName[`render-${chunk}`];
    assert.equal(task.type, "blender");
    assert.deepEqual(task.dependencies, []);
    assert.deepEqual(batchArgs(task), ["--stage", "render", "--frames", chunk]);
  }
}

function assertVideo(task, dependencies, shot = "1-7") {
  assert.equal(task.type, "ffmpeg");
  assert.deepEqual(task.dependencies, dependencies);
  assert.deepEqual(task.commands, [{
    name: "frames-to-video",
    parameters: {
      exe: "ffmpeg", fps: 24, inputGlob: "/farm/out/job1/stylized/frame_*.png",
      outputFile: `/farm/out/job1/shot010-${shot}.mp4`,
      args: ["-c:v", "h264", "-crf", "20", "-g", "18", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
             "-y"],
    },
  }]);
}

test("strict: a chain of stylize tasks, each after its render and the previous chunk; last chunk short", () => {
  const { names, byName } = compile({ chunking: "strict" });
  assert.deepEqual(names, ["render-1-3", "render-4-6", "render-7-7", "stylize-1-3", "stylize-4-6", "stylize-7-7",
                           "encode-video"]);
  assertRenders(byName, ["1-3", "4-6", "7-7"]);
  assert.deepEqual(byName["stylize-1-3"].dependencies, ["render-1-3"]);
  assert.deepEqual(byName["stylize-4-6"].dependencies, ["render-4-6", "stylize-1-3"]);
  assert.deepEqual(byName["stylize-7-7"].dependencies, ["render-7-7", "stylize-4-6"]);
  for (const [chunk, task] of [["1-3", "stylize-1-3"], ["4-6", "stylize-4-6"], ["7-7", "stylize-7-7"]]) {
    assert.equal(byName[task].type, "nst-gpu");
    assert.deepEqual(batchArgs(byName[task]),
                     ["--stage", "stylize", "--frames", chunk, "--shot", "1-7", "--chunking", "strict", ...ENGINE]);
  }
  assertVideo(byName["encode-video"], ["stylize-1-3", "stylize-4-6", "stylize-7-7"]);
});

test("overlap: stylize tasks need the renders of their warm-up frames, never another stylize; one join", () => {
  const { names, byName } = compile({ chunking: "overlap", warmup: 4 });
  assert.deepEqual(names, ["render-1-3", "render-4-6", "render-7-7", "stylize-1-3", "stylize-4-6", "stylize-7-7",
                           "join-overlap", "encode-video"]);
  assertRenders(byName, ["1-3", "4-6", "7-7"]);
  assert.deepEqual(byName["stylize-1-3"].dependencies, ["render-1-3"]); // the shot's start: no warm-up
  assert.deepEqual(byName["stylize-4-6"].dependencies, ["render-1-3", "render-4-6"]);
  // warm-up (4) longer than a chunk (3): frames 3-6 come from two earlier render chunks
  assert.deepEqual(byName["stylize-7-7"].dependencies, ["render-1-3", "render-4-6", "render-7-7"]);
  for (const chunk of ["1-3", "4-6", "7-7"]) {
    const task = byName[`stylize-${chunk}`];
    assert.equal(task.type, "nst-gpu");
    assert.deepEqual(batchArgs(task), ["--stage", "stylize", "--frames", chunk, "--shot", "1-7", "--chunking",
                                       "overlap", "--warmup", "4", ...ENGINE]);
  }
  const join = byName["join-overlap"];
  assert.equal(join.type, "blender");
  assert.deepEqual(join.dependencies, ["stylize-1-3", "stylize-4-6", "stylize-7-7"]);
  assert.deepEqual(batchArgs(join), ["--stage", "join", "--shot", "1-7", "--chunking", "overlap", "--warmup", "4"]);
  assertVideo(byName["encode-video"], ["join-overlap"]);
});

test("overlap: a warm-up shorter than a chunk reaches back into the previous render chunk only", () => {
  const { byName } = compile({ chunking: "overlap", warmup: 2, frames: "1-9" });
  assert.deepEqual(byName["stylize-4-6"].dependencies, ["render-1-3", "render-4-6"]);
  assert.deepEqual(byName["stylize-7-9"].dependencies, ["render-4-6", "render-7-9"]);
  const noWarmup = compile({ chunking: "overlap", warmup: 0, frames: "1-9" }).byName;
  assert.deepEqual(noWarmup["stylize-7-9"].dependencies, ["render-7-9"]);
});

test("anchors: one train task after all renders; stylize tasks after it and their render, side by side", () => {
  const { names, byName } = compile({ chunking: "anchors", keyframes: 3 });
  assert.deepEqual(names, ["render-1-3", "render-4-6", "render-7-7", "train-shot-model", "stylize-1-3",
                           "stylize-4-6", "stylize-7-7", "encode-video"]);
  assertRenders(byName, ["1-3", "4-6", "7-7"]);
  const train = byName["train-shot-model"];
  assert.equal(train.type, "nst-gpu");
  assert.deepEqual(train.dependencies, ["render-1-3", "render-4-6", "render-7-7"]);
  assert.deepEqual(batchArgs(train), ["--stage", "train", "--shot", "1-7", "--chunking", "anchors", "--keyframes", "3",
                                      ...ENGINE]);
  for (const chunk of ["1-3", "4-6", "7-7"]) {
    const task = byName[`stylize-${chunk}`];
    assert.equal(task.type, "nst-gpu");
    assert.deepEqual(task.dependencies, ["train-shot-model", `render-${chunk}`]);
    assert.deepEqual(batchArgs(task), ["--stage", "stylize", "--frames", chunk, "--shot", "1-7", "--chunking",
                                       "anchors", ...ENGINE]);
  }
  assertVideo(byName["encode-video"], ["stylize-1-3", "stylize-4-6", "stylize-7-7"]);
});

test("a shot of one frame: one render, one stylize, the video; for every strategy", () => {
  for (const chunking of ["strict", "overlap", "anchors"]) {
    const { names, byName } = compile({ chunking, frames: "5" });
    const middle = { strict: ["stylize-5-5"], overlap: ["stylize-5-5", "join-overlap"],
                     anchors: ["train-shot-model", "stylize-5-5"] }[chunking];
    assert.deepEqual(names, ["render-5-5", ...middle, "encode-video"]);
    assert.deepEqual(batchArgs(byName["stylize-5-5"]).slice(0, 6), ["--stage", "stylize", "--frames", "5-5", "--shot",
                                                                    "5-5"]);
    assert.equal(byName["stylize-5-5"].dependencies.includes("render-5-5"), true);
    assertVideo(byName["encode-video"], [middle[middle.length - 1]], "5-5");
  }
});

test("chunks of two frames (Flamenco writes them '4,5') and Blender's '..' notation become A-B", () => {
  const { names, byName } = compile({ frames: "101..105" });
  assert.deepEqual(names.slice(0, 2), ["render-101-103", "render-104-105"]);
  assert.deepEqual(batchArgs(byName["stylize-104-105"]).slice(0, 6), ["--stage", "stylize", "--frames", "104-105",
                                                                      "--shot", "101-105"]);
});

test("optional arguments: no styles = the scene's, size 0 = the render's, an engine Python when given", () => {
  const { byName } = compile({ styles: " ", size: 0, engine_python: "{nst_python}", method: "fast", device: "cuda" });
  assert.deepEqual(batchArgs(byName["stylize-1-3"]).slice(8), ["--method", "fast", "--iterations", "5", "--device",
                                                               "cuda", "--engine-python", "{nst_python}"]);
});

test("refused settings name the problem", () => {
  assert.throws(() => compile({ frames: "1-3,7-9" }), /must be one contiguous range/);
  assert.throws(() => compile({ chunk_size: 0 }), /chunk_size must be a positive number/);
  assert.throws(() => compile({ chunking: "sideways" }), /chunking "sideways" is not one of strict, overlap, anchors/);
  assert.throws(() => compile({ fps: 0, blendfile: "" }), /fps must be a positive number.*blendfile is required/);
  assert.throws(() => compile({ chunking: "overlap", warmup: -1 }), /warmup must be 0 or more/);
});

test("settings: valid Flamenco setting types; frames, output, fps, engine choices evaluated from the scene", () => {
  const settings = Object.fromEntries(jobType.JOB_TYPE.settings.map((s) => [s.key, s]));
  for (const setting of jobType.JOB_TYPE.settings) {
    assert.ok(["string", "int32", "float", "bool"].includes(setting.type), setting.key);
    assert.ok(!setting.visible || ["visible", "hidden", "submission", "web"].includes(setting.visible), setting.key);
    if (setting.choices) assert.ok(setting.choices.includes(setting.default ?? setting.choices[0]), setting.key);
  }
  assert.equal(settings.frames.eval, "f'{C.scene.frame_start}-{C.scene.frame_end}'");
  assert.match(settings.output_dir.eval, /C\.scene\.nst\.output_folder/);
  assert.match(settings.fps.eval, /C\.scene\.render\.fps/);
  for (const key of ["method", "size", "iterations"]) assert.match(settings[key].eval, /C\.scene\.nst\./);
});

test("compile.mjs prints the job as JSON, and a refused job as one line with status 2", () => {
  const job = JSON.parse(execFileSync("node", [COMPILE_CLI, "compile", SCRIPT, "--settings", "-", "--name", "j"],
                                      { input: JSON.stringify(SUBMITTED), stdio: ["pipe", "pipe", "ignore"] }));
  assert.equal(job.name, "j");
  assert.equal(job.settings.chunking, "strict"); // the default filled in, as the add-on does
  assert.equal(job.tasks.length, 7);
  const bad = spawnSync("node", [COMPILE_CLI, "compile", SCRIPT, "--settings", "-"],
                        { input: JSON.stringify({ ...SUBMITTED, frames: "1-2,9" }), encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: frames "1-2,9" must be one contiguous range/m);
  const types = JSON.parse(execFileSync("node", [COMPILE_CLI, "job-type", SCRIPT],
                                        { stdio: ["ignore", "pipe", "ignore"] }));
  assert.equal(types.label, "Neural Style Transfer");
});
