"""rlkit tune: search spaces checked like configs, trials that run and prune, a study that resumes after a kill."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import CARTPOLE, FAST, ROOT
from rlkit.cli import main
from rlkit.errors import ConfigError
from rlkit.tune import read_space

optuna = pytest.importorskip("optuna")

TINY = [item for item in FAST if not item.startswith(("train.total_steps", "train.eval_every",
                                                         "train.checkpoint_every"))] + \
    ["train.total_steps=400", "train.eval_every=200", "train.checkpoint_every=200"]


def _space(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, fragment", [
    ("agent.lr: {logunifrom: [1.0e-5, 1.0e-2]}", "unknown distribution 'logunifrom'; did you mean 'loguniform'?"),
    ("agent.lr_rate: {loguniform: [1.0e-5, 1.0e-2]}", "did you mean 'agent.lr'"),
    ("agent.lr: {loguniform: [0.0, 1.0e-2]}", "low > 0"),
    ("agent.n_step: {int: [1.5, 3]}", "bounds must be integers"),
    ("agent.n_step: {int: [1, 300]}", "agent.n_step"),  # the config's own range check
    ("agent.critic.type: {categorical: []}", "non-empty list"),
    ("space: {agent.lr: {uniform: [0.1, 0.2]}}\npruner: {patience: 3}", "unknown pruner setting 'patience'"),
])
def test_bad_spaces_are_one_line_errors(tmp_path, capsys, text, fragment):
    out = tmp_path / "study"
    argv = ["tune", str(CARTPOLE), *TINY, "--trials", "1", "--space", _space(tmp_path, text), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlkit: error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()


def test_space_reading_on_a_hand_example(tmp_path):
    params, pruner, sampler = read_space(_space(tmp_path, "space:\n  agent.lr: {loguniform: [1.0e-5, 1.0e-2]}\n"
                                                          "  agent.n_step: {int: [1, 9, 2]}\n"
                                                          "pruner: {startup_trials: 2}\n"))
    assert [(p.field, p.kind, p.args) for p in params] == [("agent.lr", "loguniform", [1e-5, 1e-2]),
                                                           ("agent.n_step", "int", [1, 9, 2])]
    assert pruner == {"startup_trials": 2} and sampler == {}
    with pytest.raises(ConfigError, match="not found"):
        read_space(tmp_path / "missing.yaml")


def test_trials_run_and_a_bad_one_is_pruned(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    url = f"sqlite:///{out / 'study.db'}"
    space = _space(tmp_path, "space:\n  env.kwargs.max_episode_steps: {categorical: [200, 4]}\n"
                             "pruner: {startup_trials: 1}\n")
    study = optuna.create_study(study_name="prune", storage=url, direction="maximize")
    for steps in (200, 4):  # the second trial's episodes end after 4 steps: a greedy return of at most 4
        study.enqueue_trial({"env.kwargs.max_episode_steps": steps})
    argv = ["tune", str(CARTPOLE), *TINY, "--trials", "2", "--space", space, "--study", "prune",
            "--storage", url, "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [row["state"] for row in rows] == ["complete", "pruned"]
    assert (out / "trial-0000" / "checkpoints" / "final.pt").is_file()
    assert (out / "best.yaml").is_file() and "max_episode_steps: 200" in (out / "best.yaml").read_text()


def test_a_killed_study_resumes(tmp_path):
    out = tmp_path / "study"
    space = _space(tmp_path, "agent.lr: {loguniform: [1.0e-4, 1.0e-2]}\n")
    argv = [sys.executable, "-m", "rlkit", "tune", str(CARTPOLE), *TINY, "--trials", "3", "--space", space,
            "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "trial-0001").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "trial-0000").exists()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="cartpole_dqn", storage=f"sqlite:///{out / 'study.db'}")
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3 and "best greedy return" in done.stdout
