import json

from dancenow.video import probe


def test_demo_runs_end_to_end_at_a_tiny_budget(tmp_path, cli):
    out = tmp_path / "demo"
    result = cli("demo", "-o", out, "--max-steps", "2", "--target-seconds", "4", "--source-seconds", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["target"]["body_found"] >= 0.95
    assert summary["detector"]["target"]["body_median_error_over_height"] < 0.04
    assert probe(out / "transfer.mp4").num_frames == probe(out / "source.mp4").num_frames == 30
    assert probe(out / "side_by_side.mp4").num_frames == 30
    for name in ("run/config.json", "run/global_generator.safetensors", "evaluation/evaluation.md"):
        assert (out / name).is_file(), name
    assert 0 < summary["held_out"]["model"]["body_ssim"] <= 1
    assert "held-out body SSIM" in result.stdout


def test_demo_rejects_a_bad_budget(tmp_path, cli):
    cli.error(cli("demo", "-o", tmp_path, "--minutes", "0"), "--minutes")
