"""A resumed run's replay matches its checkpoint: replay.npz carries the step it was written at, and a kill between
the replay write and the checkpoint write resumes without the newer replay (one warning line)."""

import pytest

import rlkit.training.chores as chores_module
from rlkit.training.checkpoint import load_checkpoint
from rlkit.replay import read_replay_step
from rlkit.run import resume, train
from rlkit.training.loop import EnvLoop

from helpers import fast_config


class Killed(Exception):
    pass


def test_kill_between_replay_and_checkpoint_writes_does_not_resume_a_newer_replay(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    real_save, calls = chores_module.save_checkpoint, []

    def save_then_die(path, payload):
        calls.append(payload["trainer"]["step"])
        if len(calls) == 2:  # the replay of step 600 is on disk; the kill lands before latest.pt moves on
            raise Killed()
        return real_save(path, payload)

    monkeypatch.setattr(chores_module, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train(fast_config(run_dir, "replay.save_with_checkpoint=true", "train.total_steps=900"), progress=False)
    monkeypatch.setattr(chores_module, "save_checkpoint", real_save)
    assert calls == [300, 600]
    payload = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert payload["trainer"]["step"] == 300
    assert read_replay_step(run_dir / "checkpoints" / "replay.npz") == 600

    capsys.readouterr()
    resumed = EnvLoop(payload_config(payload), run_dir, progress=False, checkpoint=payload)
    assert resumed.step == 300
    assert len(resumed.replay) <= 300  # never the 600 transitions of a later step
    assert len(resumed.replay) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "step 600" in err and "step 300" in err, err
    resumed.close()


def test_matching_replay_is_restored_and_stamped(tmp_path):
    run_dir = tmp_path / "run"
    train(fast_config(run_dir, "replay.save_with_checkpoint=true"), progress=False)
    assert read_replay_step(run_dir / "checkpoints" / "replay.npz") == 600
    payload = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    resumed = EnvLoop(payload_config(payload), run_dir, progress=False, checkpoint=payload)
    assert len(resumed.replay) == 600
    resumed.close()
    assert resume(run_dir, ["train.total_steps=900"], progress=False).steps == 900


def payload_config(payload):
    from rlkit.agents.registry import resolve_preset
    from rlkit.config import config_from_dict

    return resolve_preset(config_from_dict(payload["config"]))


def test_resume_overrides_reach_the_agent_and_its_optimizer(tmp_path):
    # `rlkit train --resume RUN agent.lr=...` must train at the new rate: the checkpoint's optimiser state carries
    # the old one and would silently win.
    from rlkit.config import apply_overrides, config_from_dict

    run = tmp_path / "run"
    train(fast_config(run), progress=False)
    payload = load_checkpoint(run / "checkpoints" / "final.pt")
    config = apply_overrides(config_from_dict(payload["config"]), ["agent.lr=0.0004", "train.total_steps=700"])
    loop = EnvLoop(config, run, progress=False, checkpoint=payload)
    try:
        assert loop.agent.config.lr == 0.0004
        assert [group["lr"] for group in loop.agent.optimizer.param_groups] == [0.0004]
        assert loop.agent.optimizer.state  # Adam's moments still come back
    finally:
        loop.close()
