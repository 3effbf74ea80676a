// Compile a Flamenco job type outside Flamenco, with the stand-in globals (flamenco_standin.mjs), to JSON:
//
//   node bench/farm/compile.mjs job-type farm/flamenco/nst_stylize.js              # its JOB_TYPE
//   node bench/farm/compile.mjs compile farm/flamenco/nst_stylize.js --settings settings.json [--name NAME]
//
// `compile` fills in the settings' defaults the way the Blender add-on does on submission, runs compileJob(), and
// prints the job: its settings and tasks (name, type, commands, dependencies by name). The script's print() goes
// to stderr. A script error exits with status 2 and one line on stderr.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { loadJobType, withDefaults } from "./flamenco_standin.mjs";

function main(argv) {
  const { positionals, values } = parseArgs({
    args: argv, allowPositionals: true,
    options: { settings: { type: "string" }, name: { type: "string", default: "job" } },
  });
  const [action, script] = positionals;
  if (!["job-type", "compile"].includes(action) || !script || positionals.length !== 2) {
    throw new Error("usage: compile.mjs job-type SCRIPT | compile SCRIPT --settings FILE|- [--name NAME]");
  }
  const jobType = loadJobType(script, (line) => process.stderr.write(`${line}\n`));
  if (action === "job-type") return jobType.JOB_TYPE;
  if (!values.settings) throw new Error("compile needs --settings FILE (a JSON object; - reads stdin)");
  const settings = JSON.parse(readFileSync(values.settings === "-" ? 0 : values.settings, "utf8"));
  return jobType.compile(withDefaults(jobType.JOB_TYPE, settings), values.name);
}

try {
  process.stdout.write(`${JSON.stringify(main(process.argv.slice(2)), null, 1)}\n`);
} catch (error) {
  process.stderr.write(`error: ${error instanceof Error ? error.message : error}\n`);
  process.exit(2);
}
