import json


def test_demo_runs_end_to_end_on_a_short_clip(tmp_path, cli):
    out = tmp_path / "demo"
    result = cli("demo", "-o", out, "--seconds", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 60
    assert summary["body_found"] >= 0.95
    assert summary["body_median_error_over_height"] < 0.04
    for name in ("target.mp4", "target_poses.npz", "target_true_poses.npz", "target_preview.mp4"):
        assert (out / name).stat().st_size > 0


def test_demo_rejects_bad_length(tmp_path, cli):
    cli.error(cli("demo", "-o", tmp_path, "--seconds", "0"), "--seconds")
