// A stand-in for what Flamenco Manager gives a job compiler script (Flamenco 3.x, internal/manager/job_compilers):
// the globals `author`, `path`, `frameChunker`, `frameCount`, `print`, `alert`, `formatTimestampLocal`, and the
// `job` object passed to compileJob(). It follows the Manager's Go code: frameChunker merges each chunk like
// frameRangeMerge ("1-3", but two frames as "4,5"), author.Task() rejects empty names and types, tasks get
// priority 50, and a script's errors (Flamenco scripts `throw` strings) come out as they are thrown.
// loadJobType() runs a script in its own V8 context with only these globals, as the Manager runs it in Goja.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import posixPath from "node:path/posix";
import vm from "node:vm";

function invalidRange(range, message) {
  return new Error(`invalid range "${range}": ${message}`);
}

// Every frame of "1-10,20..25,40" (Flamenco's and Blender's notations), sorted, without duplicates.
export function frameRangeExplode(frameRange) {
  const text = String(frameRange).trim().replaceAll("..", "-");
  if (text === "") throw invalidRange(frameRange, "empty range");
  const frames = new Set();
  for (const part of text.split(",")) {
    const ends = part.split("-").map((s) => s.trim());
    if (ends.length > 2 || ends.some((s) => !/^\d+$/.test(s))) throw invalidRange(frameRange, part);
    const [first, last] = [Number(ends[0]), Number(ends[ends.length - 1])];
    for (let frame = first; frame <= last; frame++) frames.add(frame);
  }
  return [...frames].sort((a, b) => a - b);
}

// Consecutive frames merged like the Manager's frameRangeMerge: "3-8,13,15,16" (a run of two is written as a list).
export function frameRangeMerge(frames) {
  const ranges = [];
  let start = frames[0];
  for (let i = 1; i <= frames.length; i++) {
    if (i < frames.length && frames[i] === frames[i - 1] + 1) continue;
    const end = frames[i - 1];
    if (end === start) ranges.push(`${start}`);
    else if (end === start + 1) ranges.push(`${start}`, `${end}`);
    else ranges.push(`${start}-${end}`);
    start = frames[i];
  }
  return ranges.join(",");
}

export function frameChunker(frameRange, chunkSize) {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new Error(`invalid chunk size, must be positive number: ${chunkSize}`);
  }
  const frames = frameRangeExplode(frameRange);
  if (frames.length === 0) throw invalidRange(frameRange, "empty range");
  const chunks = [];
  for (let i = 0; i < frames.length; i += chunkSize) chunks.push(frameRangeMerge(frames.slice(i, i + chunkSize)));
  return chunks;
}

export function frameCount(frameRange) {
  return frameRangeExplode(frameRange).length;
}

// crosspath as the Manager exposes it; forward slashes (the farm's shared storage is a POSIX path here).
const toSlash = (p) => String(p).replaceAll("\\", "/");
export const path = {
  basename: (p) => posixPath.basename(toSlash(p)),
  dirname: (p) => posixPath.dirname(toSlash(p)),
  join: (...parts) => posixPath.join(...parts.map(toSlash)),
  stem: (p) => posixPath.parse(toSlash(p)).name,
};

class AuthoredTask {
  constructor(name, type) {
    this.uuid = randomUUID();
    this.name = name;
    this.type = type;
    this.priority = 50;
    this.commands = [];
    this.dependencies = [];
  }

  addCommand(command) {
    this.commands.push(command);
  }

  addDependency(task) {
    this.dependencies.push(task);
  }
}

export const author = {
  Task(name, type) {
    name = String(name ?? "").trim();
    type = String(type ?? "").trim();
    if (name === "") throw new Error("author.Task(name, type): name is required");
    if (type === "") throw new Error("author.Task(name, type): type is required");
    return new AuthoredTask(name, type);
  },
  Command(name, parameters) {
    return { name, parameters };
  },
};

export class AuthoredJob {
  constructor(name, settings, created = new Date()) {
    this.name = name;
    this.settings = settings;
    this.created = created;
    this.tasks = [];
  }

  addTask(task) {
    this.tasks.push(task);
  }

  // The compiled job as plain data: dependencies by task name (names must then be unique).
  toJSON() {
    const names = new Set();
    for (const task of this.tasks) {
      if (names.has(task.name)) throw new Error(`two tasks are named "${task.name}"`);
      names.add(task.name);
    }
    return {
      name: this.name,
      settings: this.settings,
      tasks: this.tasks.map((task) => ({
        name: task.name,
        type: task.type,
        priority: task.priority,
        commands: task.commands,
        dependencies: task.dependencies.map((dep) => {
          if (!names.has(dep.name)) throw new Error(`task "${task.name}" depends on "${dep.name}", not in the job`);
          return dep.name;
        }),
      })),
    };
  }
}

function formatTimestampLocal(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}_` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

// Load a job compiler script with the Manager's globals; `log` receives what the script print()s and alert()s.
// Returns its JOB_TYPE and compile(settings, name), which runs compileJob() on a new job like the Manager does and
// returns the job as plain data, as the Manager stores it (see AuthoredJob.toJSON).
export function loadJobType(scriptPath, log = () => {}) {
  const context = vm.createContext({
    author, path, frameChunker, frameCount, formatTimestampLocal,
    print: (...args) => log(args.map(String).join(" ")),
    alert: (...args) => log(`ALERT: ${args.map(String).join(" ")}`),
  });
  vm.runInContext(readFileSync(scriptPath, "utf8"), context, { filename: scriptPath });
  const { JOB_TYPE, compileJob } = vm.runInContext(
    "({ JOB_TYPE: typeof JOB_TYPE === 'undefined' ? undefined : JOB_TYPE," +
    "   compileJob: typeof compileJob === 'undefined' ? undefined : compileJob })", context);
  if (typeof JOB_TYPE !== "object" || !Array.isArray(JOB_TYPE.settings)) {
    throw new Error(`${scriptPath} does not define a proper JOB_TYPE object`);
  }
  if (typeof compileJob !== "function") throw new Error(`${scriptPath} does not define a compileJob(job) function`);
  return {
    JOB_TYPE,
    compile(settings, name = "job") {
      const job = new AuthoredJob(name, { ...settings });
      compileJob(job);
      return JSON.parse(JSON.stringify(job));
    },
  };
}

// What the Blender add-on submits: every setting's default where the submitter gave no value.
export function withDefaults(jobType, settings) {
  const full = { ...settings };
  for (const setting of jobType.settings) {
    if (!(setting.key in full) && "default" in setting) full[setting.key] = setting.default;
  }
  return full;
}
