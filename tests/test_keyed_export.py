"""ONNX export of Dict-observation and masked agents: one named input per key, the mask an input, the torch-free
runtime taking a dict."""

import json

import numpy as np
import pytest

import toy_envs  # noqa: F401
from helpers import CARTPOLE, fast_overrides
from rlkit.cli import main
from rlkit.edge.runtime import load_policy
from rlkit.training.evaluate import load_agent
from rlkit.vec import make_env

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("masked") / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run), "env.id=toy_envs:MaskTrapObs-v0",
                 "--no-progress"]) == 0
    return run


def test_masked_export_takes_the_mask_as_an_input(masked_run, capsys):
    checkpoint = masked_run / "checkpoints" / "final.pt"
    out = masked_run / "policy.onnx"
    assert main(["export", str(checkpoint), "--format", "onnx", "--out", str(out)]) == 0
    assert "greedy agreement 100.0%" in capsys.readouterr().out
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert [(i["name"], i["dtype"], i["mask"]) for i in metadata["inputs"]] == [("action_mask", "bool", True),
                                                                                  ("state", "float32", False)]
    policy, agent = load_policy(out), load_agent(checkpoint)
    env = make_env("toy_envs:MaskTrapObs-v0")
    obs, _ = env.reset(seed=4)
    env.close()
    favourite = agent.act({**obs, "action_mask": np.ones(4, np.int8)})
    mask = np.ones(4, bool)
    mask[favourite] = False  # the unmasked favourite made illegal: the policy must pick another
    choice = policy.act({"state": obs["state"], "action_mask": mask})
    assert choice != favourite and choice == agent.act({"state": obs["state"], "action_mask": mask})
    batch = {"state": np.zeros((64, 2), np.float32), "action_mask": np.tile(mask, (64, 1))}
    assert (policy.act(batch, epsilon=1.0) != favourite).all()  # exploration stays legal too
    assert main(["export", str(checkpoint), "--quantize", "int8", "--out", str(masked_run / "q.onnx")]) == 2
    assert "drop --quantize" in capsys.readouterr().err


def test_dict_export_has_one_input_per_key(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run), "env.id=toy_envs:Cue-v0", "train.total_steps=300",
                 "--no-progress"]) == 0
    out = tmp_path / "cue.onnx"
    assert main(["export", str(run / "checkpoints" / "final.pt"), "--out", str(out)]) == 0
    assert "greedy agreement 100.0%" in capsys.readouterr().out
    policy = load_policy(out)
    assert [i["key"] for i in policy.inputs] == ["cue", "grid", "noise"]
    env = make_env("toy_envs:Cue-v0")
    obs, _ = env.reset(seed=0)
    env.close()
    assert policy.act(obs) == load_agent(run / "checkpoints" / "final.pt").act(obs)
