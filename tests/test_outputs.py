"""Output paths: an existing file is refused unless --force, a bad path fails in one line before any work, and a
failed command leaves no partial output."""

import pytest

from rlkit.cli import main
from rlkit.errors import RlkitError
from rlkit.outputs import claim_output, disk_full_message, removed_on_failure
from rlkit.run import train

from helpers import fast_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return train(fast_config(tmp_path_factory.mktemp("outputs") / "run"), progress=False).checkpoint


def _one_line(capsys, fragment):
    err = capsys.readouterr().err
    assert err.startswith("rlkit: error: ") and err.count("\n") == 1 and fragment in err, err


def test_export_refuses_to_replace_an_existing_policy_unless_forced(checkpoint, tmp_path, capsys):
    out = tmp_path / "policy.onnx"
    assert main(["export", str(checkpoint), "--out", str(out), "--observations", "20"]) == 0
    before = out.read_bytes(), (tmp_path / "policy.json").read_bytes()
    capsys.readouterr()
    assert main(["export", str(checkpoint), "--out", str(out), "--observations", "20"]) == 2
    _one_line(capsys, "--force")
    assert (out.read_bytes(), (tmp_path / "policy.json").read_bytes()) == before
    assert main(["export", str(checkpoint), "--out", str(out), "--observations", "20", "--force"]) == 0


def test_failed_export_leaves_no_partial_files(checkpoint, tmp_path, capsys):
    out = tmp_path / "policy.onnx"
    assert main(["export", str(checkpoint), "--out", str(out), "--quantize", "ternary"]) == 2  # an fp32 checkpoint
    _one_line(capsys, "ternary")
    assert list(tmp_path.iterdir()) == []
    assert main(["export", str(checkpoint), "--out", str(out), "--observations", "0"]) == 2
    _one_line(capsys, "--observations")
    assert list(tmp_path.iterdir()) == []


def test_removed_on_failure_keeps_what_existed_before(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.onnx"
    old.write_text("{}")
    with pytest.raises(ValueError):
        with removed_on_failure(old, new):
            new.write_bytes(b"partial")
            raise ValueError("boom")
    assert old.read_text() == "{}" and not new.exists()


def test_import_sb3_never_replaces_a_run_s_checkpoint(checkpoint, tmp_path, capsys):
    before = checkpoint.read_bytes()
    fake_zip = tmp_path / "model.zip"
    fake_zip.write_bytes(b"not a zip")
    assert main(["import-sb3", str(fake_zip), "--env", "CartPole-v1", "--out", str(checkpoint)]) == 2
    _one_line(capsys, "exists already")
    assert checkpoint.read_bytes() == before


def test_export_output_path_problems_are_one_line(checkpoint, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "blocker" / "policy.onnx")]) == 2
    _one_line(capsys, "is a file, not a directory")
    with pytest.raises(RlkitError, match="is a directory"):
        from rlkit.edge import export_onnx

        export_onnx(checkpoint, tmp_path, count=10)
    assert main(["export", str(checkpoint), "--out", str(tmp_path), "--observations", "10"]) == 0  # inside it
    assert (tmp_path / "run.onnx").is_file()


def test_plot_and_video_paths(tmp_path, capsys, checkpoint):
    assert main(["plot", str(checkpoint.parents[1]), "--out", str(tmp_path / "curve.txt")]) == 2
    _one_line(capsys, "must end in .png")
    (tmp_path / "video").write_text("a file")
    assert main(["eval", str(checkpoint), "--episodes", "1", "--video", str(tmp_path / "video")]) == 2
    _one_line(capsys, "is a file")


def test_claim_output_and_disk_full_message(tmp_path):
    assert claim_output(tmp_path / "new" / "x.pt", "checkpoint") == tmp_path / "new" / "x.pt"
    with pytest.raises(RlkitError, match="must end in .pt"):
        claim_output(tmp_path / "x.zip", "checkpoint")
    message = disk_full_message(tmp_path / "x.pt")
    assert "disk full" in message and "MiB free" in message and str(tmp_path) in message
