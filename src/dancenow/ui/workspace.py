"""The web interface's workspace: everything it makes, in one folder, so a restart finds it again.

```
WORKSPACE/
  targets/NAME/   video.EXT (the upload), poses.npz, preview.mp4 (stick figures), dataset/
  sources/NAME.EXT                uploaded source videos
  runs/NAME/      a `dancenow train` run folder, plus train.log (the training process's output)
  results/NAME/   result.mp4, result_side_by_side.mp4, result.normalization.json, result.poses.npz
```

Nothing here imports gradio: the job manager and the tests use it without a browser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from dancenow.errors import InputError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
DEFAULT_MAX_UPLOAD_MB = 500


def slug(text: str, fallback: str = "video") -> str:
    """A safe folder name from user text (an upload's file name, a typed run name)."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "_", text.strip()).strip("_-")[:60]
    return s or fallback


def unique_name(parent: Path, name: str, suffix: str = "") -> str:
    """``name`` or ``name-2``, ``name-3``... so that ``parent / (name + suffix)`` does not exist yet."""
    candidate, n = name, 1
    while (parent / f"{candidate}{suffix}").exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def check_upload(
    path: str | Path | None, *, max_mb: float = DEFAULT_MAX_UPLOAD_MB, what: str = "video"
) -> Path:
    """Validate an uploaded video: present, an accepted extension, within the size limit, decodable.

    Raises :class:`InputError` with the one-line message the CLI would show, naming the file by
    the name the user gave it (not the server's temporary path).
    """
    if path is None or str(path) == "":
        raise InputError(None, f"no {what} uploaded: drop a video file ({', '.join(VIDEO_EXTENSIONS)})")
    path = Path(path)
    name = Path(path.name)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        shown = path.suffix or "(no extension)"
        raise InputError(
            name, f"unsupported file type {shown}: upload a video ({', '.join(VIDEO_EXTENSIONS)})"
        )
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(name, "the upload did not arrive (no such file on the server)") from None
    if size > max_mb * 1024 * 1024:
        raise InputError(
            name, f"is {size / 1024 / 1024:.0f} MB, over the {max_mb:g} MB upload limit (--max-upload-mb)"
        )
    from dancenow.video import probe

    try:
        probe(path)
    except InputError as e:
        raise InputError(name, e.problem) from None
    return path


@dataclass
class RunInfo:
    """What the interface shows about a run folder (read from its files, never from memory)."""

    name: str
    path: Path
    dataset: Path | None  # the dataset it trains on (from config.json)
    preset: str | None
    completed: list[str] = field(default_factory=list)
    resumable: bool = False  # has checkpoint/ (so --resume works)
    usable: bool = False  # has generator weights (so transfer works)

    @property
    def label(self) -> str:
        done = ", ".join(self.completed) if self.completed else "no stage finished"
        return f"{self.name} ({self.preset or '?'}; {done})"


class Workspace:
    """The folder layout above, with listings that survive restarts."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        for sub in ("targets", "sources", "runs", "results"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def targets(self) -> Path:
        return self.root / "targets"

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def results(self) -> Path:
        return self.root / "results"

    # ---------------------------------------------------------------- listings
    def datasets(self) -> list[str]:
        """Targets whose dataset is prepared (``targets/NAME/dataset/dataset.json``), by name."""
        return sorted(p.parent.parent.name for p in self.targets.glob("*/dataset/dataset.json"))

    def dataset_path(self, name: str) -> Path:
        return self.targets / slug(name) / "dataset"

    def source_videos(self) -> list[str]:
        return sorted(p.name for p in self.sources.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)

    def run_infos(self) -> list[RunInfo]:
        return [self.run_info(p.name) for p in sorted(self.runs.iterdir()) if p.is_dir()]

    def run_path(self, name: str) -> Path:
        return self.runs / slug(name, "run")

    def run_info(self, name: str) -> RunInfo:
        path = self.run_path(name)
        info = RunInfo(name=path.name, path=path, dataset=None, preset=None)
        try:
            doc = json.loads((path / "config.json").read_text())
            info.dataset = Path(doc["data"]["dataset"])
            info.preset = doc["train"].get("preset")
            info.completed = list(doc.get("completed_stages", []))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not (yet) a run: a job that has not written its config, or a stray folder
        info.resumable = (path / "checkpoint").is_dir()
        info.usable = (path / "global_generator.safetensors").is_file()
        return info

    def result_folders(self) -> list[Path]:
        """Earlier transfers, newest first."""
        done = [p for p in self.results.iterdir() if (p / "result.mp4").is_file()]
        return sorted(done, key=lambda p: p.stat().st_mtime, reverse=True)


# -------------------------------------------------------------------- training progress (files)
def read_metrics(run: Path, limit: int | None = None) -> list[dict]:
    """The rows of ``RUN/metrics.jsonl`` (a line being written right now is skipped)."""
    path = Path(run) / "metrics.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines[-limit:] if limit else lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "stage" in row:
            rows.append(row)
    return rows


def latest_sample(run: Path) -> Path | None:
    """The newest sample grid (label | generated | real) of a run, if any."""
    samples = list((Path(run) / "samples").glob("*.png"))
    if not samples:
        return None
    return max(samples, key=lambda p: (p.stat().st_mtime, p.name))
