"""The CLI: one clear line and exit status 2 for every bad input; eval; SIGKILL mid-run then --resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlkit.cli import main
from rlkit.run import train

from helpers import CARTPOLE, ROOT, fast_config, fast_overrides

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    train(fast_config(run), progress=False)
    return run


def _fails_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlkit: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["agent.lr_rate=0.1"], "did you mean 'agent.lr'"),
        (["replay.batch_size=many"], "replay.batch_size"),
        (["env.id=CartPol-v1"], "did you mean 'CartPole-v1'"),
        (["env.id=Pendulum-v1"], "Discrete"),
        (["env.id=no_such_module:Thing-v0"], "no_such_module"),
        (["agent.init_from=no/such/checkpoint.pt"], "not found"),
    ],
)
def test_train_bad_input(tmp_path, capsys, overrides, fragment):
    _fails_with_one_line(capsys, ["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), *overrides], fragment)
    assert not (tmp_path / "run").exists()


def test_bad_checkpoints(tmp_path, capsys):
    _fails_with_one_line(capsys, ["eval", str(tmp_path / "missing.pt")], "not found")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    _fails_with_one_line(capsys, ["eval", str(corrupt)], "corrupt")
    _fails_with_one_line(capsys, ["train", "--resume", str(tmp_path)], "no checkpoints/latest.pt")


def test_argument_errors_are_one_line(capsys):
    assert main(["eval"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("rlkit ")


def test_existing_run_dir_survives_bad_commands(run_dir, capsys):
    snapshot = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    _fails_with_one_line(capsys, ["train", str(CARTPOLE), *fast_overrides(run_dir)], "already holds a run")
    _fails_with_one_line(capsys, ["train", "--resume", str(run_dir), "agent.gama=0.5"], "did you mean 'agent.gamma'")
    _fails_with_one_line(capsys, ["eval", str(run_dir / "checkpoints" / "final.pt"), "--env", "MountainCar-v0"],
                         "matching spaces")
    assert snapshot == {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_eval_prints_mean_and_std_on_own_and_user_env(run_dir, capsys):
    checkpoint = str(run_dir / "checkpoints" / "final.pt")
    assert main(["eval", checkpoint, "--episodes", "3"]) == 0
    assert "CartPole-v1: mean return" in capsys.readouterr().out
    assert main(["eval", checkpoint, "--episodes", "2", "--env", "toy_envs:ShortCartPole-v0"]) == 0
    assert "toy_envs:ShortCartPole-v0: mean return" in capsys.readouterr().out


def test_eval_records_video(run_dir, tmp_path, capsys):
    pytest.importorskip("moviepy")
    pytest.importorskip("pygame")
    video_dir = tmp_path / "video"
    assert main(["eval", str(run_dir), "--episodes", "1", "--video", str(video_dir)]) == 0
    assert list(video_dir.glob("*.mp4"))


def _rlkit(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "rlkit", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_sigkill_mid_run_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    latest = run_dir / "checkpoints" / "latest.pt"
    process = _rlkit("train", str(CARTPOLE), *fast_overrides(run_dir, "train.total_steps=1000000",
                                                             "train.checkpoint_every=200", "train.eval_every=0"),
                     "--no-progress")
    deadline = time.time() + 60
    while not latest.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let it write a few more checkpoints, so the kill can land in the middle of one
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert latest.exists(), "no checkpoint before the kill"

    from rlkit.training.checkpoint import load_checkpoint

    killed_at = load_checkpoint(latest)["trainer"]["step"]
    resumed = _rlkit("train", "--resume", str(run_dir), f"train.total_steps={killed_at + 400}", "--no-progress")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    final = load_checkpoint(run_dir / "checkpoints" / "final.pt")
    assert final["trainer"]["step"] == killed_at + 400
    assert final["trainer"]["updates"] > load_checkpoint(latest)["trainer"]["updates"] - 1
