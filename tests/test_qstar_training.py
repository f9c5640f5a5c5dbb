"""Q* end to end: `rlkit train` on a puzzle (checkpoint, resume, TensorBoard), `rlkit eval` and `rlkit solve`."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlkit.training.checkpoint import load_checkpoint
from rlkit.cli import main
from rlkit.config import load_config
from rlkit.errors import ConfigError
from rlkit.run import resume, train

from helpers import ROOT

LIGHTS_OUT_3 = ["puzzle.size=3", "puzzle.batch_size=100", "puzzle.eval_depths=[1,2,4]", "puzzle.eval_states=50",
                "agent.net.hidden=[128]", "agent.target_period=50", "train.total_steps=300", "train.eval_every=100",
                "train.checkpoint_every=100", "train.log_every=50", "threads=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("qstar") / "run"
    config = load_config(ROOT / "configs" / "lights_out_qstar.yaml", [*LIGHTS_OUT_3, f"run_dir={run_dir}"])
    result = train(config, progress=False)
    return run_dir, result


def test_training_logs_solve_rates_and_learns(trained):
    run_dir, result = trained
    assert result.updates == 300 and result.eval_mean > 0.5
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"eval/solve_rate_depth_1", "eval/solve_rate_depth_4", "train/loss"} <= set(tags)
    assert events.Scalars("eval/solve_rate_depth_1")[-1].value == 1.0


def test_resume_continues_the_update_count(trained):
    run_dir, _ = trained
    result = resume(run_dir, ["train.total_steps=350"], progress=False)
    assert result.updates == 350
    assert load_checkpoint(run_dir / "checkpoints" / "final.pt")["trainer"]["updates"] == 350


def test_eval_and_solve_commands(trained, capsys):
    run_dir, _ = trained
    checkpoint = str(run_dir / "checkpoints" / "final.pt")
    assert main(["eval", checkpoint, "--episodes", "10"]) == 0
    assert "depth 1: 1.00" in capsys.readouterr().out
    for algo in ("qstar", "astar"):
        assert main(["solve", "--checkpoint", checkpoint, "--scramble", "5", "--algo", algo, "--batch", "4",
                     "--weight", "1.0"]) == 0
        out = capsys.readouterr().out
        assert f"lights_out with {algo}: solved" in out and "nodes generated" in out
    assert main(["solve", "--checkpoint", checkpoint, "--state", "000000000"]) == 0
    assert "(already solved)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["--puzzle", "cube3", "--scramble", "3"], "was trained on lights_out, not cube3"),
    (["--state", "10x"], "state must be"),
    (["--scramble", "3", "--algo", "bfs"], "unknown search 'bfs'"),
    (["--scramble", "3", "--state", "000000000"], "exactly one of"),
])
def test_solve_bad_input(trained, capsys, argv, fragment):
    run_dir, _ = trained
    assert main(["solve", "--checkpoint", str(run_dir / "checkpoints" / "final.pt"), *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_solve_refuses_an_env_checkpoint(tmp_path, capsys):
    from helpers import fast_config

    result = train(fast_config(tmp_path / "dqn"), progress=False)
    assert main(["solve", "--checkpoint", str(result.checkpoint), "--scramble", "3"]) == 2
    assert "not trained on a puzzle" in capsys.readouterr().err


def test_puzzle_and_agent_must_agree():
    with pytest.raises(ConfigError, match="set puzzle.name"):
        train(load_config(None, ["agent.name=qstar"]), progress=False)
    with pytest.raises(ConfigError, match="use agent.name=qstar"):
        train(load_config(None, ["puzzle.name=cube3"]), progress=False)


def test_targets_from_a_trained_network(trained, tmp_path, capsys):
    """puzzle.target_from: a fresh network regressing a trained one's cost-to-go learns (here on 3 of 9 actions per
    state); a missing or foreign teacher is one error line, exit 2, and no run directory."""
    run_dir, _ = trained
    teacher = str(run_dir / "checkpoints" / "final.pt")
    student_dir = tmp_path / "student"
    config = load_config(ROOT / "configs" / "lights_out_qstar.yaml", [
        *LIGHTS_OUT_3, "train.total_steps=150", "train.eval_every=150", f"run_dir={student_dir}",
        f"puzzle.target_from={teacher}", "puzzle.target_actions=3"])
    assert train(config, progress=False).eval_mean > 0.5
    preset = str(ROOT / "configs" / "lights_out_qstar.yaml")
    for overrides, fragment in (
        ([f"puzzle.target_from={tmp_path / 'missing.pt'}"], "missing.pt"),
        ([f"puzzle.target_from={teacher}", "puzzle.size=4"], "was trained on lights_out"),
    ):
        target_dir = tmp_path / "bad"
        assert main(["train", preset, *LIGHTS_OUT_3, f"run_dir={target_dir}", *overrides, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1 and not target_dir.exists()


def test_beam_greedy_and_memory_bound_from_the_cli(trained, capsys):
    run_dir, _ = trained
    checkpoint = str(run_dir / "checkpoints" / "final.pt")
    for algo in ("beam", "greedy"):
        assert main(["solve", "--checkpoint", checkpoint, "--scramble", "3", "--algo", algo, "--beam-width", "50"]) == 0
        assert f"lights_out with {algo}: solved" in capsys.readouterr().out
    # a bound below what the root's tree already holds stops at once, says so, and reports bytes per node
    assert main(["solve", "--checkpoint", checkpoint, "--scramble", "9", "--algo", "astar", "--max-memory",
                 "0.0001"]) == 1
    out = capsys.readouterr().out
    assert "not solved (max_memory)" in out and "bytes/node:" in out


@pytest.fixture
def package_networks(tmp_path, monkeypatch):
    """The package's shipped-network folder pointed at an empty temporary one, sized for the 3x3 test puzzle."""
    from rlkit.envs.puzzles import shipped

    networks = tmp_path / "networks"
    networks.mkdir()
    monkeypatch.setattr(shipped, "NETWORKS", networks)
    monkeypatch.setitem(shipped.SIZES, "lights_out", 3)
    return networks


def test_solve_without_a_checkpoint_needs_a_shipped_network(package_networks, capsys):
    assert main(["solve", "--scramble", "3"]) == 2
    assert "give --checkpoint CKPT, or --puzzle NAME" in capsys.readouterr().err
    assert main(["solve", "--puzzle", "lights_out", "--scramble", "3"]) == 2
    err = capsys.readouterr().err
    assert "ships no trained network for 'lights_out'" in err and err.count("\n") == 1


def test_a_shipped_network_solves_and_continues_training(trained, package_networks, tmp_path, capsys):
    import importlib.util

    run_dir, _ = trained
    spec = importlib.util.spec_from_file_location("ship_network", ROOT / "scripts" / "ship_network.py")
    ship_network = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_network)
    shipped_file = ship_network.ship(run_dir / "checkpoints" / "final.pt")
    assert shipped_file == package_networks / "lights_out_7x7.pt"
    payload = load_checkpoint(shipped_file)
    assert set(payload["agent"]) == {"online", "updates"} and payload["config"]["run_dir"] is None
    step = payload["trainer"]["step"]

    assert main(["solve", "--puzzle", "lights_out", "--scramble", "4", "--algo", "qstar"]) == 0
    assert "lights_out with qstar: solved" in capsys.readouterr().out

    continued = tmp_path / "continued"
    result = resume("shipped:lights_out", [f"run_dir={continued}", f"train.total_steps={step + 20}"], progress=False)
    assert result.updates == step + 20
    assert load_checkpoint(continued / "checkpoints" / "final.pt")["trainer"]["updates"] == step + 20
    before = shipped_file.read_bytes()
    # the same directory again is a run already: refused, nothing written; so is a budget already reached
    assert main(["train", "--resume", "shipped:lights_out", f"run_dir={continued}",
                 f"train.total_steps={step + 40}"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", "shipped:lights_out", f"run_dir={tmp_path / 'other'}",
                 f"train.total_steps={step}"]) == 2
    assert "nothing to train" in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert shipped_file.read_bytes() == before


def test_the_shipped_networks_are_small_load_safely_and_solve():
    from rlkit.envs.puzzles import shipped
    from rlkit.solve import solve_puzzle

    present = [puzzle for puzzle, name in shipped.SHIPPED.items() if (shipped.NETWORKS / name).is_file()]
    assert "cube3" in present  # `rlkit solve --puzzle cube3` must work on a fresh install
    for puzzle in present:
        path = shipped.shipped_checkpoint(puzzle)
        assert path.stat().st_size <= 20 * 2**20
        payload = load_checkpoint(path)  # weights_only=True inside
        assert payload["config"]["puzzle"]["name"] == puzzle and payload["trainer"]["updates"] > 0
        report = solve_puzzle(None, puzzle=puzzle, scramble=12, algorithm="beam", beam_width=1000, seed=3,
                              max_seconds=30)
        assert report.solved and report.stop_reason == "found", puzzle


def test_resume_overrides_reach_the_puzzle_agent(trained):
    # The puzzle loop rebuilt its agent from the checkpoint's stored config: `--resume RUN puzzle.bellman_every=1`
    # or `agent.lr=...` trained on as before without a word.
    from rlkit.config import apply_overrides, config_from_dict
    from rlkit.training.puzzle_loop import PuzzleLoop

    run_dir, _ = trained
    payload = load_checkpoint(run_dir / "checkpoints" / "final.pt")
    config = apply_overrides(config_from_dict(payload["config"]),
                             ["puzzle.targets=mixed", "puzzle.bellman_every=3", "puzzle.max_scramble=9",
                              "agent.lr=0.0004"])
    loop = PuzzleLoop(config, run_dir, progress=False, checkpoint=payload)
    try:
        assert loop.agent.puzzle_config.targets == "mixed" and loop.agent.puzzle_config.bellman_every == 3
        assert [group["lr"] for group in loop.agent.optimizer.param_groups] == [0.0004]
        assert loop.agent.updates == payload["agent"]["updates"]
    finally:
        loop.close()
