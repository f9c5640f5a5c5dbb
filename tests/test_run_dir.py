"""Run directories: one writer at a time, no dead end after an interrupt, SIGINT/SIGTERM checkpoint the step."""

import hashlib
import signal
import subprocess
import sys
import time

import pytest

from rlkit.training.checkpoint import load_checkpoint
from rlkit.cli import main
from rlkit.config import save_config
from rlkit.run_dir import RunDirLock, run_state

from helpers import CARTPOLE, fast_config, fast_overrides
from test_cli import _rlkit


def _tree_hash(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def _hold_lock(run_dir):
    """A second process that holds the run directory's lock until killed."""
    code = ("import sys, time; from rlkit.run_dir import RunDirLock; lock = RunDirLock(sys.argv[1]); "
            "lock.acquire(); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_run_directory_refuses_a_second_writer_then_a_dead_holder_is_taken_over(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run_dir), "--no-progress"]) == 0
    before = _tree_hash(run_dir)
    holder = _hold_lock(run_dir)
    try:
        capsys.readouterr()
        assert main(["train", "--resume", str(run_dir), "train.total_steps=900", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {holder.pid}" in err and "in use" in err, err
        assert _tree_hash(run_dir) == before  # nothing written by the refused writer
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", "--resume", str(run_dir), "train.total_steps=900", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"from pid {holder.pid}" in err and "no longer running" in err


def test_two_trainers_cannot_share_a_new_directory(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _hold_lock(run_dir)
    try:
        from rlkit.errors import RunDirError
        from rlkit.run import train

        with pytest.raises(RunDirError, match="in use by pid"):
            train(fast_config(run_dir), progress=False)
        assert run_state(run_dir) == "empty" and not (run_dir / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_run_stopped_before_its_first_checkpoint_can_be_started_or_resumed(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_config(fast_config(run_dir), run_dir / "config.yaml")  # what a run killed before its first checkpoint leaves
    assert run_state(run_dir) == "started"
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert "starting it from step 0" in capsys.readouterr().err
    assert load_checkpoint(run_dir / "checkpoints" / "final.pt")["trainer"]["step"] == 600

    again = tmp_path / "again"
    again.mkdir()
    save_config(fast_config(again), again / "config.yaml")
    assert main(["train", str(CARTPOLE), *fast_overrides(again), "--no-progress"]) == 0
    assert "starting it again" in capsys.readouterr().err
    # the two refusals never point at each other
    assert main(["train", str(CARTPOLE), *fast_overrides(again), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "rlkit train CONFIG" in err and "--resume" not in err.split("start one with")[1]


def test_resume_with_nothing_left_to_train_leaves_the_run_alone(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run_dir), "--no-progress"]) == 0
    before = _tree_hash(run_dir)
    assert main(["train", "--resume", str(run_dir), "train.total_steps=600"]) == 2
    assert "nothing to train" in capsys.readouterr().err
    assert _tree_hash(run_dir) == before
    assert main(["train", "--resume", str(run_dir), "train.total_steps=900", "--no-progress"]) == 0
    assert "total_steps: 900" in (run_dir / "config.yaml").read_text()  # the resume's override is recorded


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_write_a_checkpoint_of_the_current_step(tmp_path, signum):
    run_dir = tmp_path / "run"
    process = _rlkit("train", str(CARTPOLE), *fast_overrides(run_dir, "train.total_steps=1000000",
                                                             "train.checkpoint_every=0", "train.eval_every=0",
                                                             "train.log_every=200"), "--no-progress")
    deadline = time.time() + 60
    while not (run_dir / "tb").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # a few hundred steps in; no checkpoint has been written (checkpoint_every=0)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert err.count("\n") == 1 and str(run_dir) in err and signal.Signals(signum).name in err, err
    step = load_checkpoint(run_dir / "checkpoints" / "latest.pt")["trainer"]["step"]
    assert step > 0 and f"step {step:,}" in err
    assert main(["train", "--resume", str(run_dir), f"train.total_steps={step + 200}", "--no-progress"]) == 0


@pytest.mark.parametrize("override, fragment", [("env.id=Acrobot-v1", "env.id"),
                                                ("agent.net.hidden=[16]", "agent.net.hidden"),
                                                ("agent.critic.type=c51", "agent.critic.type")])
def test_resume_that_changes_the_task_or_network_is_refused_before_any_write(tmp_path, capsys, override, fragment):
    run_dir = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run_dir), "--no-progress"]) == 0
    before = _tree_hash(run_dir)
    files = sorted(p.name for p in run_dir.rglob("*"))
    assert main(["train", "--resume", str(run_dir), override, "train.total_steps=900"]) == 2
    err = capsys.readouterr().err
    assert f"cannot change {fragment}" in err and err.count("\n") == 1, err
    assert _tree_hash(run_dir) == before and sorted(p.name for p in run_dir.rglob("*")) == files  # no new tb file
