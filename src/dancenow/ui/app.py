"""``dancenow ui``: a Gradio page for the whole pipeline, for people who do not live in a terminal.

One page, three steps: (1) upload a target video, see the detected stick figures, prepare the
dataset; (2) train with live progress, losses and the latest sample grid, stop and resume;
(3) upload or pick a source video, transfer, watch and download the result and the side-by-side
view. :class:`Controller` holds the actions and knows nothing of gradio (tests drive it
directly); :func:`build_app` lays out the page and wires the actions to it.

Safe by default: binds to 127.0.0.1, gradio's analytics off, no share link unless asked,
uploads limited in size and to video files, and the page loads nothing from the internet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from dancenow.errors import InputError
from dancenow.runfolder.config import DEFAULT_PRESET, PRESETS
from dancenow.ui.jobs import Busy, JobManager, TrainJob
from dancenow.ui.workspace import (
    DEFAULT_MAX_UPLOAD_MB,
    VIDEO_EXTENSIONS,
    Workspace,
    check_upload,
    latest_sample,
    read_metrics,
    slug,
    unique_name,
)

log = logging.getLogger(__name__)

SIZES = {  # (width, height): portrait windows following the dancer
    "192x256": (192, 256),
    "96x128": (96, 128),
    "384x512": (384, 512),
    "64 (quick test)": (64, 64),
}
PLOTTED_LOSSES = ("g_total", "d_total", "face_total", "face_d")
LOSS_COLORS = {"g_total": "#1f77b4", "d_total": "#ff7f0e", "face_total": "#d62728", "face_d": "#2ca02c"}


@dataclass
class TargetResult:
    name: str
    preview: Path
    dataset: Path
    message: str


@dataclass
class TransferOutput:
    result: Path
    side_by_side: Path
    message: str


class Controller:
    """The page's actions on a :class:`Workspace`, with training through a :class:`JobManager`."""

    def __init__(
        self, workspace: Workspace, jobs: JobManager, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    ):
        self.ws, self.jobs, self.max_upload_mb = workspace, jobs, max_upload_mb

    # ---------------------------------------------------------------- 1. target
    def add_target(
        self, video: str | Path | None, size: str = "192x256", *, progress: bool = True
    ) -> TargetResult:
        """Copy the upload into the workspace, detect poses, write the preview, prepare the dataset."""
        from dancenow.data.prepare import prepare_dataset
        from dancenow.pose.extract import detect_video
        from dancenow.pose.posefile import save_poses
        from dancenow.pose.preview import write_preview

        video = check_upload(video, max_mb=self.max_upload_mb, what="target video")
        if size not in SIZES:
            raise InputError(None, f"unknown training size {size!r}: pick one of {', '.join(SIZES)}")
        name = unique_name(self.ws.targets, slug(video.stem, "target"))
        folder = self.ws.targets / name
        folder.mkdir(parents=True)
        try:
            copy = folder / f"video{video.suffix.lower()}"
            shutil.copyfile(video, copy)
            poses = detect_video(copy, progress=progress)
            save_poses(folder / "poses.npz", poses)
            write_preview(copy, poses, folder / "preview.mp4", progress=progress)
            dataset = prepare_dataset(
                copy, folder / "dataset", poses=folder / "poses.npz", size=SIZES[size], progress=progress
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-made is listed later
            raise
        found = poses.detected().mean()
        message = (
            f"Target **{name}**: {len(poses)} frames, body found in {100 * found:.0f}% of them; "
            f"dataset prepared at {SIZES[size][0]}x{SIZES[size][1]}."
        )
        from dancenow.data.coverage import dataset_warnings

        message += "".join(f"\n\n⚠️ **Warning:** {w}." for w in dataset_warnings(dataset))
        return TargetResult(name, folder / "preview.mp4", dataset, message)

    # ---------------------------------------------------------------- 2. training
    def start_training(
        self,
        dataset: str | None,
        run: str | None,
        preset: str = DEFAULT_PRESET,
        steps: float | None = None,
        minutes: float | None = None,
    ) -> TrainJob:
        """Queue a new run ``run`` on the prepared target ``dataset``."""
        if not dataset:
            raise InputError(None, "no target dataset: upload a target video in step 1 first")
        path = self.ws.dataset_path(dataset)
        if not (path / "dataset.json").is_file():
            raise InputError(None, f"target {dataset!r} has no prepared dataset in {self.ws.targets}")
        if preset not in PRESETS:
            raise InputError(None, f"unknown preset {preset!r}: pick one of {', '.join(PRESETS)}")
        name = slug(run or f"{dataset}_{preset}", "run")
        run_path = self.ws.run_path(name)
        if (run_path / "checkpoint").exists() or (run_path / "config.json").exists():
            raise InputError(
                None, f"run {name!r} already exists: press Resume to continue it, or name a new run"
            )
        max_steps, budget = _budget(steps, minutes)
        return self.jobs.submit(
            TrainJob(run=run_path, dataset=path, preset=preset, max_steps=max_steps, minutes=budget)
        )

    def resume_training(
        self, run: str | None, steps: float | None = None, minutes: float | None = None
    ) -> TrainJob:
        """Queue ``--resume`` of an existing run (its own dataset and saved config)."""
        if not run:
            raise InputError(None, "no run selected: pick the run to resume")
        info = self.ws.run_info(run)
        if not info.resumable or info.dataset is None:
            raise InputError(None, f"run {info.name!r} has no checkpoint to resume from")
        max_steps, budget = _budget(steps, minutes)
        return self.jobs.submit(
            TrainJob(run=info.path, dataset=info.dataset, max_steps=max_steps, minutes=budget, resume=True)
        )

    def stop_training(self, run: str | None = None) -> str:
        job = self.jobs.stop(self.ws.run_path(run) if run else None)
        if job is None:
            job = self.jobs.stop()
        if job is None:
            return "Nothing is training."
        if job.state == "cancelled":
            return f"Removed **{job.run.name}** from the queue."
        return (
            f"Stopping **{job.run.name}**: it finishes its step and writes a checkpoint "
            "(Resume continues it)."
        )

    def training_view(self, run: str | None) -> tuple[str, list[dict], Path | None]:
        """(status in Markdown, loss rows for the plot, the newest sample grid) of ``run``."""
        lines = []
        current = self.jobs.current
        if current is not None:
            lines.append(
                f"**Training:** {current.run.name}" + (" (stopping…)" if current.stop_requested else "")
            )
        queued = self.jobs.queued
        if queued:
            lines.append("**Queued:** " + ", ".join(j.run.name for j in queued))
        if not run:
            return "\n\n".join(lines) or "No run selected.", [], None
        info = self.ws.run_info(run)
        rows = read_metrics(info.path)
        job = self.jobs.last_job(info.path)
        lines.append(_run_status(info, job, rows))
        return "\n\n".join(lines), loss_rows(rows), latest_sample(info.path)

    # ---------------------------------------------------------------- 3. transfer
    def add_source(self, video: str | Path | None) -> str:
        """Copy an uploaded source video into the workspace; returns its name there."""
        video = check_upload(video, max_mb=self.max_upload_mb, what="source video")
        stem = unique_name(self.ws.sources, slug(video.stem, "source"), video.suffix.lower())
        shutil.copyfile(video, self.ws.sources / f"{stem}{video.suffix.lower()}")
        return f"{stem}{video.suffix.lower()}"

    def transfer(self, run: str | None, source: str | None, *, progress: bool = True) -> TransferOutput:
        """Make the target of ``run`` dance like the workspace source video ``source``."""
        from dancenow.inference.transfer import transfer

        if not run:
            raise InputError(None, "no model selected: train one in step 2, or pick an earlier run")
        info = self.ws.run_info(run)
        if not info.usable:
            raise InputError(None, f"run {info.name!r} has no trained generator yet: train it first")
        if not source:
            raise InputError(None, "no source video: upload one or pick an earlier upload")
        src = self.ws.sources / Path(source).name
        if not src.is_file():
            raise InputError(None, f"source video {source!r} is not in {self.ws.sources}")
        with self.jobs.transfer_slot():
            name = unique_name(self.ws.results, f"{info.name}__{slug(src.stem)}")
            folder = self.ws.results / name
            folder.mkdir(parents=True)
            try:
                started = time.perf_counter()
                result = transfer(
                    info.path,
                    src,
                    folder / "result.mp4",
                    side_by_side_path=folder / "result_side_by_side.mp4",
                    progress=progress,
                )
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        message = (
            f"**{name}**: {result.frames} frames at {result.fps:.1f} fps "
            f"in {time.perf_counter() - started:.0f} s."
        )
        return TransferOutput(result.output, result.side_by_side, message)


def _budget(steps: float | None, minutes: float | None) -> tuple[int | None, float | None]:
    """Empty/zero fields mean "not set": then the preset's own schedule applies."""
    max_steps = int(steps) if steps else None
    if max_steps is not None and max_steps < 1:
        raise InputError(None, f"steps per stage must be at least 1, got {max_steps}")
    budget = float(minutes) if minutes else None
    if budget is not None and budget <= 0:
        raise InputError(None, f"minutes must be positive, got {budget:g}")
    return max_steps, budget


def loss_rows(rows: list[dict]) -> list[dict]:
    """Long-format loss records ``{step, loss, value}`` with a step count running across stages."""
    out, offset, last_stage, last_step = [], 0, None, 0
    for row in rows:
        if row["stage"] != last_stage:
            offset += last_step if last_stage is not None else 0
            last_stage = row["stage"]
        last_step = int(row.get("step", 0))
        for key in PLOTTED_LOSSES:
            if isinstance(row.get(key), (int, float)):
                out.append({"step": offset + last_step, "loss": key, "value": float(row[key])})
    return out


def loss_chart(rows: list[dict], path: Path) -> Path | None:
    """Draw the loss curves of :func:`loss_rows` to a PNG (matplotlib, server-side).

    A picture rather than gradio's interactive plot: that one keeps the series of its first data
    and never draws the face stage's losses that appear later.
    """
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from dancenow.utils.atomic import atomic_path

    fig = Figure(figsize=(6.4, 3.2), dpi=100, layout="tight")
    ax = fig.add_subplot()
    for key in PLOTTED_LOSSES:
        points = [(r["step"], r["value"]) for r in rows if r["loss"] == key]
        if points:
            ax.plot(*zip(*points, strict=True), label=key, color=LOSS_COLORS[key], linewidth=1.5)
    ax.set_xlabel("step (all stages)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _run_status(info, job: TrainJob | None, rows: list[dict]) -> str:
    parts = [f"**Run {info.name}** ({info.preset or 'starting'})"]
    if job is not None:
        state = job.state
        if state == "failed":
            state += f" (exit {job.returncode}): {job.last_error() or 'see ' + str(job.log)}"
        elif state == "stopped":
            state += ": checkpoint written, press Resume to continue"
        elif state == "done":
            state = "finished"
        if job.started is not None:
            state += f" ({(job.ended or time.time()) - job.started:.0f} s)"
        parts.append(state)
    elif info.resumable and not info.completed:
        parts.append("stopped earlier: press Resume to continue")
    if rows:
        last = rows[-1]
        plan = f"/{job.max_steps}" if job is not None and job.max_steps else ""
        losses = " · ".join(f"{k} {last[k]:.3f}" for k in PLOTTED_LOSSES if isinstance(last.get(k), float))
        parts.append(
            f"stage **{last['stage']}**, step {last['step']}{plan} · {losses} · "
            f"{last.get('images_per_s', 0):.1f} img/s"
        )
    if info.completed and (job is None or job.state != "running"):
        parts.append("stages finished: " + ", ".join(info.completed))
    return " — ".join(parts)


# ==================================================================== the page (gradio)
CSS = """
.dn-step h2 { margin-top: 0.2em; }
footer { display: none !important; }
"""


def _message(e: BaseException) -> str:
    return f"⚠️ {e}"


def _handlers(controller: Controller, gr) -> SimpleNamespace:
    """What the page's buttons and timer do (gradio callbacks), and the choices its lists offer."""
    ws = controller.ws

    def run_choices() -> list[str]:
        return [i.name for i in ws.run_infos() if i.dataset is not None or i.resumable]

    def model_choices() -> list[str]:
        return [i.name for i in ws.run_infos() if i.usable]

    def loss_frame(run: str | None, rows: list[dict]) -> str | None:
        chart = loss_chart(rows, ws.root / ".ui" / f"losses_{slug(run or 'run')}.png")
        return str(chart) if chart else None

    # ------------------------------------------------------------ handlers
    def on_target(video, size, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - gradio's API
        try:
            res = controller.add_target(video, size)
        except (InputError, Busy) as e:
            gr.Warning(str(e))
            return gr.skip(), _message(e), gr.skip(), gr.skip()
        choices = ws.datasets()
        return (
            str(res.preview),
            res.message + " Next: train it in step 2.",
            gr.update(choices=choices, value=res.name),
            gr.update(value=f"{res.name}_run"),
        )

    def on_train(dataset, run, preset, steps, minutes):
        try:
            job = controller.start_training(dataset, run, preset, steps, minutes)
        except (InputError, Busy) as e:
            gr.Warning(str(e))
            return _message(e), gr.skip()
        state = "started" if job.state == "running" else "queued (one training job at a time)"
        return f"Training **{job.run.name}** {state}.", gr.update(choices=run_choices(), value=job.run.name)

    def on_resume(run, steps, minutes):
        try:
            job = controller.resume_training(run, steps, minutes)
        except (InputError, Busy) as e:
            gr.Warning(str(e))
            return _message(e)
        return f"Resuming **{job.run.name}** ({job.state})."

    def on_stop(run):
        return controller.stop_training(run)

    def on_poll(run, seen):
        status, rows, sample = controller.training_view(run)
        runs, models = run_choices(), model_choices()
        key = (run, len(rows), str(sample), tuple(runs), tuple(models))
        if key == seen:
            return status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), seen
        return (
            status,
            loss_frame(run, rows),
            str(sample) if sample else None,
            gr.update(choices=runs),
            gr.update(choices=models),
            key,
        )

    def on_run_selected(run):
        status, rows, sample = controller.training_view(run)
        return status, loss_frame(run, rows), str(sample) if sample else None

    def on_transfer(run, upload, picked, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        try:
            source = controller.add_source(upload) if upload else picked
            out = controller.transfer(run, source)
        except (InputError, Busy) as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), gr.skip(), _message(e), gr.skip()
        return (
            str(out.result),
            str(out.side_by_side),
            [str(out.result), str(out.side_by_side)],
            out.message,
            gr.update(choices=ws.source_videos(), value=source),
        )

    return SimpleNamespace(
        run_choices=run_choices,
        model_choices=model_choices,
        on_target=on_target,
        on_train=on_train,
        on_resume=on_resume,
        on_stop=on_stop,
        on_poll=on_poll,
        on_run_selected=on_run_selected,
        on_transfer=on_transfer,
    )


def _transfer_step(gr, ws, models: list[str]) -> tuple:
    """Step 3 of the page: its inputs, button, outputs and status line."""
    with gr.Group(elem_classes="dn-step"):
        gr.Markdown("## 3 · Transfer\nThe model's target performs the source dancer's moves.")
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(models, label="Model (trained run)", elem_id="model")
                source_video = gr.Video(
                    label="Source video (upload)", sources=["upload"], format=None, elem_id="source-video"
                )
                source_pick = gr.Dropdown(
                    ws.source_videos(), label="…or an earlier source", elem_id="source-pick"
                )
                transfer_btn = gr.Button("Transfer", variant="primary", elem_id="transfer")
            with gr.Column():
                result = gr.Video(label="Result", format=None, interactive=False, elem_id="result")
                sbs = gr.Video(
                    label="Side by side: source | pose | result",
                    format=None,
                    interactive=False,
                    elem_id="side-by-side",
                )
                downloads = gr.File(
                    label="Download", file_count="multiple", interactive=False, elem_id="downloads"
                )
        transfer_status = gr.Markdown(elem_id="transfer-status")
    return model, source_video, source_pick, transfer_btn, result, sbs, downloads, transfer_status


def build_app(controller: Controller, *, poll_seconds: float = 1.0):
    """The gr.Blocks page. gradio is imported here: the rest of dancenow does not need it."""
    import gradio as gr

    ws = controller.ws
    h = _handlers(controller, gr)

    # ------------------------------------------------------------ layout
    # The default theme pulls a Google font; Base uses fonts gradio ships (nothing from the internet).
    theme = gr.themes.Base(primary_hue="orange", secondary_hue="slate")
    types = ", ".join(VIDEO_EXTENSIONS)
    with gr.Blocks(
        title="dancenow", theme=theme, css=CSS, analytics_enabled=False, delete_cache=(3600, 86400)
    ) as demo:
        gr.Markdown(
            "# dancenow — make anyone dance\n"
            "Everybody Dance Now on your own videos: a target person learns the moves of a source dancer. "
            f"Everything is kept in `{ws.root}`, so a restart finds earlier targets, models and results."
        )
        with gr.Group(elem_classes="dn-step"):
            gr.Markdown(
                "## 1 · Target video\nA few minutes of one person, full body in view, static camera "
                f"({types}, at most {controller.max_upload_mb:g} MB)."
            )
            with gr.Row():
                with gr.Column():
                    target_video = gr.Video(
                        label="Target video", sources=["upload"], format=None, elem_id="target-video"
                    )
                    size = gr.Dropdown(
                        list(SIZES), value="192x256", label="Training size (pixels)", elem_id="size"
                    )
                    analyze = gr.Button("Detect poses and prepare", variant="primary", elem_id="analyze")
                with gr.Column():
                    preview = gr.Video(
                        label="Detected stick figures", format=None, interactive=False, elem_id="preview"
                    )
            target_status = gr.Markdown(elem_id="target-status")

        with gr.Group(elem_classes="dn-step"):
            gr.Markdown(
                "## 2 · Train\nOne training job at a time (others wait in a queue). "
                "Stop writes a checkpoint; Resume continues from it. "
                "Leave steps and minutes empty for the preset's full schedule."
            )
            with gr.Row():
                dataset = gr.Dropdown(ws.datasets(), label="Target dataset", elem_id="dataset")
                run = gr.Dropdown(
                    h.run_choices(),
                    label="Run (pick one or type a new name)",
                    allow_custom_value=True,
                    elem_id="run",
                )
                preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset", elem_id="preset")
                steps = gr.Number(
                    value=None,
                    label="Steps per stage (0: the preset's)",
                    precision=0,
                    minimum=0,
                    elem_id="steps",
                )
                minutes = gr.Number(value=None, label="Minutes (0: no limit)", minimum=0, elem_id="minutes")
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="train")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                resume_btn = gr.Button("Resume", elem_id="resume")
            train_status = gr.Markdown(elem_id="train-status")
            with gr.Row():
                losses = gr.Image(label="Losses", type="filepath", interactive=False, elem_id="losses")
                sample = gr.Image(
                    label="Latest sample (pose | generated | real)",
                    type="filepath",
                    interactive=False,
                    elem_id="sample",
                )

        model, source_video, source_pick, transfer_btn, result, sbs, downloads, transfer_status = (
            _transfer_step(gr, ws, h.model_choices())
        )

        seen = gr.State(None)
        timer = gr.Timer(poll_seconds)

        analyze.click(h.on_target, [target_video, size], [preview, target_status, dataset, run])
        train_btn.click(h.on_train, [dataset, run, preset, steps, minutes], [train_status, run])
        resume_btn.click(h.on_resume, [run, steps, minutes], [train_status])
        stop_btn.click(h.on_stop, [run], [train_status])
        run.change(h.on_run_selected, [run], [train_status, losses, sample], show_progress="hidden")
        timer.tick(
            h.on_poll, [run, seen], [train_status, losses, sample, run, model, seen], show_progress="hidden"
        )
        transfer_btn.click(
            h.on_transfer,
            [model, source_video, source_pick],
            [result, sbs, downloads, transfer_status, source_pick],
        )
    demo.queue(default_concurrency_limit=1, max_size=32)
    return demo


# Everything the page needs is served by gradio itself. Its frontend still refers to a few CDN
# files (an iframe-resizer script in index.html, ffmpeg.wasm for trimming uploaded videos); the
# browser is told not to fetch anything from elsewhere, so using the page leaks nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'self'"
)


# What an uploaded or generated file may be served as, inline: media the page shows. Anything
# else (HTML, SVG, JavaScript, text) goes out as an opaque download that no browser runs.
INLINE_TYPES = ("video/", "audio/", "image/png", "image/jpeg", "image/gif", "image/webp")
FILE_POLICY = "default-src 'none'; sandbox"  # a file opened on its own runs nothing


class SecurityHeaders:
    """ASGI middleware in front of gradio: the page's Content-Security-Policy and no-sniff on every
    response; files served as inert downloads unless they are media; only video uploads kept;
    cross-origin requests to the upload and API routes refused.

    Cross-origin: a browser names the page that makes a request in ``Origin`` (and
    ``Sec-Fetch-Site``); any other site's page is refused with 403 before gradio sees it, so a
    page elsewhere cannot drive the local server (start jobs, upload, read results).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        guarded = "/gradio_api/" in path or method not in ("GET", "HEAD")
        if guarded and _cross_origin(headers):
            return await _plain(send, 403, "cross-origin requests are refused")
        is_file = "/file=" in path
        is_upload = method == "POST" and path.rstrip("/").endswith("/upload")
        start: dict = {}

        async def send_checked(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": _headers(message.get("headers", []), is_file)}
                if is_upload and message.get("status") == 200:
                    start.update(message)  # held back until the stored files are checked
                    return None
            elif is_upload and start and message["type"] == "http.response.body":
                start.setdefault("body", b"")
                start["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return None
                refused = _drop_non_videos(start["body"])
                if refused:
                    types = ", ".join(VIDEO_EXTENSIONS)
                    return await _plain(send, 415, f"{refused}: only video files can be uploaded ({types})")
                await send({k: v for k, v in start.items() if k != "body"})
                message = {**message, "body": start["body"]}
            await send(message)

        return await self.app(scope, receive, send_checked)


def _cross_origin(headers: dict[bytes, bytes]) -> bool:
    """True when a browser says another site's page sent the request (missing headers: a tool
    such as curl, which a page cannot be)."""
    if headers.get(b"sec-fetch-site", b"") == b"cross-site":
        return True
    origin = headers.get(b"origin")
    if origin is None:
        return False
    from urllib.parse import urlsplit

    netloc = urlsplit(origin.decode("latin-1")).netloc
    return netloc == "" or netloc != headers.get(b"host", b"").decode("latin-1")


def _headers(headers: list, is_file: bool) -> list:
    drop = {b"content-security-policy", b"x-content-type-options"}
    kind = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"").decode("latin-1").lower()
    inline = kind.startswith(INLINE_TYPES)
    if is_file and not inline:
        drop |= {b"content-type", b"content-disposition"}
    out = [(k, v) for k, v in headers if k.lower() not in drop]
    out += [
        (b"content-security-policy", (FILE_POLICY if is_file else CONTENT_SECURITY_POLICY).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if is_file and not inline:
        out += [(b"content-type", b"application/octet-stream"), (b"content-disposition", b"attachment")]
    return out


def _drop_non_videos(body: bytes) -> str | None:
    """Delete the files of an upload response that are not videos; the first such name, or None."""
    import json

    try:
        stored = [Path(p) for p in json.loads(body)]
    except (ValueError, TypeError):
        return None
    refused = [p for p in stored if p.suffix.lower() not in VIDEO_EXTENSIONS]
    if not refused:
        return None
    for p in stored:  # the whole upload goes: a request mixing a video and a page is not a user's
        p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            p.parent.rmdir()
    return refused[0].name


async def _plain(send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"x-content-type-options", b"nosniff"),
                (b"content-security-policy", FILE_POLICY.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


def launch(
    workspace: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    block: bool = True,
):
    """Start the server (``block=False`` returns the running app; stop it with ``.close()``)."""
    ws = Workspace(workspace)
    # Before gradio is imported: no telemetry, and its upload/cache files stay in the workspace.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(ws.root / ".gradio"))
    from starlette.middleware import Middleware

    jobs = JobManager()
    controller = Controller(ws, jobs, max_upload_mb=max_upload_mb)
    demo = build_app(controller)
    demo.dancenow_jobs = jobs  # for shutdown by whoever holds the app
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"dancenow ui: listening on {host}: anyone who can reach this machine can use the page")
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            share=share,
            max_file_size=int(max_upload_mb * 1024 * 1024),
            allowed_paths=[str(ws.root)],
            show_api=False,
            enable_monitoring=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            inbrowser=False,
            prevent_thread_lock=not block,
            app_kwargs={"middleware": [Middleware(SecurityHeaders)]},
        )
    except BaseException:
        jobs.shutdown()
        raise
    if block:
        jobs.shutdown()
    return demo
