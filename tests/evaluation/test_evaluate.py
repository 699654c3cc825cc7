import json

import torch

from dancenow.training.run import train_run


def test_evaluate_model_and_baseline_writes_reports(tiny_dataset, tmp_path, cli):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    train_run(tiny_dataset, run, preset="tiny", max_steps=2, progress=False)
    out = tmp_path / "eval"
    result = cli(
        "evaluate",
        "--model",
        run,
        "--data",
        tiny_dataset,
        "--baseline",
        "nearest-pose",
        "--out",
        out,
        "--json",
        tmp_path / "e.json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "e.json").read_text())
    assert summary["frames"] == 6  # the last 20 % of 30 frames
    for method in ("model", "nearest-pose"):
        assert 0 < summary[method]["body_ssim"] <= 1 and "missed_body_rate" in summary[method]
    for name in (
        "evaluation.json",
        "frames.csv",
        "evaluation.md",
        "metrics_over_time.png",
        "worst_frames.png",
        "heldout_frames.png",
    ):
        assert (out / name).is_file(), name
    import cv2

    sheet = cv2.imread(str(out / "heldout_frames.png"))  # 4 columns of pose | generated | real
    h, w = cv2.imread(str(out / "worst_frames.png")).shape[:2]
    assert sheet.shape[0] == h // 2 * 3 and sheet.shape[1] == 4 * (w // min(6, summary["frames"]))
    assert "nearest-pose" in result.stdout


def test_evaluate_needs_something_to_score(tiny_dataset, cli):
    cli.error(cli("evaluate", "--data", tiny_dataset), "nothing to evaluate")
