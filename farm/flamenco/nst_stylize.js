// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco job type "nst-stylize": render a shot in chunks, stylize each chunk on a GPU worker, encode a video.
// Install: copy this file into the `scripts/` folder next to the flamenco-manager executable and restart the
// Manager. Render tasks (type "blender") and the join task run anywhere; stylize and train tasks have their own
// type, "nst-gpu", so that only workers that list it in their task_types (the GPU machines) take them; the
// video is made by Flamenco's own frames-to-video command (type "ffmpeg").
//
// Every Blender task runs `{blender} {blenderArgs} scene.blend --python <batch_script> -- ARGS`, the project's
// headless batch entry (scripts/blender_batch.py); see the README, "Render farm: Flamenco".

const JOB_TYPE = {
    label: "Neural Style Transfer",
    description: "Render the shot, stylize it in chunks on GPU workers (flicker-free across chunks), encode a video",
    settings: [
        // Settings for artists to determine:
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "The shot's frames, one contiguous range, e.g. '1-240'" },
        { key: "chunk_size", type: "int32", default: 12, propargs: { min: 1 }, visible: "submission",
          description: "Frames per render task and per stylize task" },
        { key: "chunking", type: "string", choices: ["strict", "overlap", "anchors"], default: "strict",
          visible: "submission",
          description: "strict: each stylize task continues from the previous chunk's last frame (a chain, " +
                       "exactly the one-machine result); overlap: chunks run in parallel, each starts W frames " +
                       "early and is cross-faded into the previous one; anchors: a per-shot network trained on " +
                       "keyframes stylizes all chunks in parallel" },
        { key: "warmup", type: "int32", default: 4, propargs: { min: 0 }, visible: "submission",
          description: "overlap: frames before each chunk that it stylizes again and cross-fades" },
        { key: "keyframes", type: "int32", default: 4, propargs: { min: 1 }, visible: "submission",
          description: "anchors: keyframes of the shot stylized by optimization to train the shot's network" },
        { key: "styles", type: "string", default: "", visible: "submission",
          description: "Style images as the workers see them, separated by ';' " +
                       "(empty: the styles saved in the scene)" },
        { key: "method", type: "string", choices: ["quality", "fast"], eval: "C.scene.nst.method.lower()",
          visible: "submission", description: "quality: optimize each frame; fast: the style's trained network" },
        { key: "size", type: "int32", eval: "C.scene.nst.final_size_px", propargs: { min: 0 }, visible: "submission",
          description: "Longest side of the stylized frames in px (0: the render's size)" },
        { key: "iterations", type: "int32", eval: "C.scene.nst.final_iterations", propargs: { min: 1 },
          visible: "submission", description: "Optimizer iterations per frame" },
        { key: "device", type: "string", choices: ["auto", "cuda", "cpu"], default: "auto", visible: "submission",
          description: "Where the engine runs on the workers" },
        { key: "engine_python", type: "string", subtype: "file_path", default: "", visible: "submission",
          description: "A Python with PyTorch on the workers (empty: the add-on's preference, else Blender's own)" },
        { key: "batch_script", type: "string", subtype: "file_path", required: true, visible: "submission",
          default: "{nst}/scripts/blender_batch.py",
          description: "This project's scripts/blender_batch.py as the workers see it ({nst}: a Manager variable)" },

        // Automatically evaluated settings:
        { key: "output_dir", type: "string", subtype: "dir_path", required: true, editable: false, visible: "web",
          eval: "str(Path(abspath(bpy.path.abspath(C.scene.nst.output_folder)), jobname))",
          description: "The scene's Neural Style output folder, one sub-folder per job: " +
                       "render/, stylized/, the video" },
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the Blend file to render" },
        { key: "fps", type: "float", required: true, eval: "C.scene.render.fps / C.scene.render.fps_base",
          visible: "hidden" },
    ]
};

const GPU_TASK_TYPE = "nst-gpu";

function compileJob(job) {
    print("Neural style transfer job submitted:", job.name);
    const settings = job.settings;
    checkSettings(settings);

    const chunks = frameChunker(settings.frames, settings.chunk_size).map(chunkBounds);
    const shot = { first: chunks[0].first, last: chunks[chunks.length - 1].last };
    if (frameCount(settings.frames) !== shot.last - shot.first + 1) {
        throw `frames "${settings.frames}" must be one contiguous range: each stylized frame follows the one before`;
    }

    const renderTasks = chunks.map((chunk) => {
        const task = author.Task(`render-${rangeText(chunk)}`, "blender");
        task.addCommand(batchCommand(settings, ["--stage", "render", "--frames", rangeText(chunk)]));
        job.addTask(task);
        return task;
    });

    const strategies = { strict: compileStrict, overlap: compileOverlap, anchors: compileAnchors };
    const videoInputs = strategies[settings.chunking](job, settings, chunks, shot, renderTasks);

    const video = author.Task("encode-video", "ffmpeg");
    video.addCommand(author.Command("frames-to-video", {
        exe: "ffmpeg",
        fps: settings.fps,
        inputGlob: path.join(settings.output_dir, "stylized", "frame_*.png"),
        outputFile: path.join(settings.output_dir,
                              `${path.stem(settings.blendfile).replace(".flamenco", "")}-${rangeText(shot)}.mp4`),
        args: [
            "-c:v", "h264",
            "-crf", "20",
            "-g", "18",
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt", "yuv420p",
            "-y", // Be sure to always pass either "-n" or "-y".
        ],
    }));
    for (const task of videoInputs) video.addDependency(task);
    job.addTask(video);
}

// strict: a chain. Stylize k needs its renders and stylize k-1's last frame (the warped start of its first frame).
function compileStrict(job, settings, chunks, shot, renderTasks) {
    const stylizeTasks = [];
    chunks.forEach((chunk, k) => {
        const task = stylizeTask(settings, chunk, shot, []);
        task.addDependency(renderTasks[k]);
        if (k > 0) task.addDependency(stylizeTasks[k - 1]);
        job.addTask(task);
        stylizeTasks.push(task);
    });
    return stylizeTasks;
}

// overlap: stylize tasks run side by side; each starts `warmup` frames early (needing those frames' renders too),
// and one join task cross-fades the chunks' results into stylized/.
function compileOverlap(job, settings, chunks, shot, renderTasks) {
    const stylizeTasks = chunks.map((chunk) => {
        const task = stylizeTask(settings, chunk, shot, ["--warmup", `${settings.warmup}`]);
        const needed = { first: Math.max(shot.first, chunk.first - settings.warmup), last: chunk.last };
        chunks.forEach((other, j) => {
            if (other.first <= needed.last && other.last >= needed.first) task.addDependency(renderTasks[j]);
        });
        job.addTask(task);
        return task;
    });
    const join = author.Task("join-overlap", "blender");
    join.addCommand(batchCommand(settings, ["--stage", "join", "--shot", rangeText(shot), "--chunking", "overlap",
                                            "--warmup", `${settings.warmup}`]));
    for (const task of stylizeTasks) join.addDependency(task);
    job.addTask(join);
    return [join];
}

// anchors: one train task (keyframes from anywhere in the shot, so after all renders) makes the shot's network;
// then every chunk is stylized with it, side by side.
function compileAnchors(job, settings, chunks, shot, renderTasks) {
    const train = author.Task("train-shot-model", GPU_TASK_TYPE);
    train.addCommand(batchCommand(settings, ["--stage", "train", "--shot", rangeText(shot), "--chunking", "anchors",
                                             "--keyframes", `${settings.keyframes}`, ...engineArgs(settings)]));
    for (const task of renderTasks) train.addDependency(task);
    job.addTask(train);
    return chunks.map((chunk, k) => {
        const task = stylizeTask(settings, chunk, shot, []);
        task.addDependency(train);
        task.addDependency(renderTasks[k]);
        job.addTask(task);
        return task;
    });
}

function stylizeTask(settings, chunk, shot, strategyArgs) {
    const task = author.Task(`stylize-${rangeText(chunk)}`, GPU_TASK_TYPE);
    task.addCommand(batchCommand(settings, [
        "--stage", "stylize", "--frames", rangeText(chunk), "--shot", rangeText(shot),
        "--chunking", settings.chunking, ...strategyArgs, ...engineArgs(settings)]));
    return task;
}

function batchCommand(settings, args) {
    return author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: [],
        blendfile: settings.blendfile,
        // --python-exit-code: a batch entry that fails (even before it can exit with its status) fails the task
        args: ["--python-exit-code", "1", "--python", settings.batch_script, "--", "--output", settings.output_dir,
               ...args],
    });
}

function engineArgs(settings) {
    const args = [];
    for (const style of settings.styles.split(";").map((s) => s.trim()).filter((s) => s !== "")) {
        args.push("--style", style);
    }
    args.push("--method", settings.method, "--iterations", `${settings.iterations}`, "--device", settings.device);
    if (settings.size > 0) args.push("--size", `${settings.size}`);
    if (settings.engine_python) args.push("--engine-python", settings.engine_python);
    return args;
}

function checkSettings(settings) {
    const problems = [];
    const positive = (key) => {
        if (!(Number(settings[key]) > 0)) problems.push(`${key} must be a positive number, not "${settings[key]}"`);
    };
    positive("chunk_size");
    positive("fps");
    positive("iterations");
    if (settings.chunking === "anchors") positive("keyframes");
    if (settings.chunking === "overlap" && !(settings.warmup >= 0)) {
        problems.push(`warmup must be 0 or more, not "${settings.warmup}"`);
    }
    for (const [key, choices] of [["chunking", ["strict", "overlap", "anchors"]], ["method", ["quality", "fast"]],
                                  ["device", ["auto", "cuda", "cpu"]]]) {
        if (choices.indexOf(settings[key]) < 0) {
            problems.push(`${key} "${settings[key]}" is not one of ${choices.join(", ")}`);
        }
    }
    for (const key of ["blendfile", "output_dir", "batch_script"]) {
        if (!settings[key]) problems.push(`${key} is required`);
    }
    if (typeof settings.styles !== "string") problems.push("styles must be a text of paths separated by ';'");
    if (problems.length > 0) throw `nst-stylize: ${problems.join("; ")}`;
}

// A chunk from frameChunker ("1-12", "13", or "13,14" for two frames) as its first and last frame.
function chunkBounds(chunk) {
    const frames = chunk.split(/[-,]/).map(Number);
    return { first: frames[0], last: frames[frames.length - 1] };
}

function rangeText(range) {
    return `${range.first}-${range.last}`;
}
