"""Stable-Baselines3 DQN models import as rlkit checkpoints with identical Q-values; other models are refused."""

import base64
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")
from stable_baselines3 import DQN, PPO  # noqa: E402

from rlkit.errors import CheckpointError  # noqa: E402
from rlkit.training.evaluate import evaluate_checkpoint, load_agent  # noqa: E402
from rlkit.interop.sb3 import import_sb3  # noqa: E402


@pytest.fixture(scope="module")
def sb3_dqn(tmp_path_factory):
    path = tmp_path_factory.mktemp("sb3") / "dqn.zip"
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=100, buffer_size=1000, target_update_interval=50,
                seed=0, policy_kwargs={"net_arch": [32, 16]}, device="cpu")
    model.learn(400)
    model.save(path)
    return model, path


def test_imported_q_values_are_identical(sb3_dqn, tmp_path):
    model, path = sb3_dqn
    checkpoint = import_sb3(path, tmp_path / "imported.pt", env_id="CartPole-v1")
    agent = load_agent(checkpoint)
    obs = np.random.default_rng(0).uniform(-2, 2, (256, 4)).astype(np.float32)
    with torch.no_grad():
        expected = model.q_net(torch.as_tensor(obs))
        expected_target = model.q_net_target(torch.as_tensor(obs))
    assert torch.allclose(agent.q_values(obs), expected, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(agent.target(torch.as_tensor(obs))[..., 0], expected_target, atol=1e-6)
    assert agent.config.net.hidden == [32, 16] and agent.config.gamma == model.gamma
    assert evaluate_checkpoint(checkpoint, episodes=1).returns.shape == (1,)


def test_imported_agent_loads(sb3_dqn, tmp_path):
    _, path = sb3_dqn
    agent = load_agent(import_sb3(path, tmp_path / "imported.pt", env_id="CartPole-v1"))
    assert agent.obs_shape == (4,) and agent.num_actions == 2


def test_non_dqn_model_is_refused(tmp_path):
    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, device="cpu").save(tmp_path / "ppo.zip")
    with pytest.raises(CheckpointError, match="only Stable-Baselines3 DQN"):
        import_sb3(tmp_path / "ppo.zip", tmp_path / "out.pt", env_id="CartPole-v1")


def test_other_refusals(sb3_dqn, tmp_path):
    _, path = sb3_dqn
    with pytest.raises(CheckpointError, match="not found"):
        import_sb3(tmp_path / "missing.zip", tmp_path / "out.pt", env_id="CartPole-v1")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable zip"):
        import_sb3(tmp_path / "junk.zip", tmp_path / "out.pt", env_id="CartPole-v1")
    with pytest.raises(CheckpointError, match="expects observations"):
        import_sb3(path, tmp_path / "out.pt", env_id="MountainCar-v0")
    # a policy.pth holding an arbitrary pickled object is refused, not unpickled
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(hostile, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name) if name != "policy.pth" else pickle.dumps(Exception("boom")))
    with pytest.raises(CheckpointError, match="refused"):
        import_sb3(hostile, tmp_path / "out.pt", env_id="CartPole-v1")
    # a Tanh MLP is refused: rlkit's torso is ReLU
    tanh = tmp_path / "tanh.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tanh, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "data":
                data = json.loads(content)
                data["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": base64.b64encode(b"x").decode(),
                                         "activation_fn": "<class 'torch.nn.modules.activation.Tanh'>"}
                content = json.dumps(data)
            target.writestr(name, content)
    with pytest.raises(CheckpointError, match="Tanh"):
        import_sb3(tanh, tmp_path / "out.pt", env_id="CartPole-v1")


def test_cli_import_asks_for_the_env_up_front(sb3_dqn, tmp_path, capsys):
    from rlkit.cli import main

    _, path = sb3_dqn
    out = tmp_path / "imported.pt"
    assert main(["import-sb3", str(path), "--out", str(out)]) == 2  # argparse's check, one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--env" in err and not out.exists()
    with pytest.raises(CheckpointError, match="env_id"):
        import_sb3(path, out)
    assert main(["import-sb3", str(path), "--out", str(out), "--env", "CartPole-v1"]) == 0
    assert main(["eval", str(out), "--episodes", "1"]) == 0


def test_tampered_policy_names_the_refused_global(sb3_dqn, tmp_path):
    _, path = sb3_dqn
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(hostile, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name) if name != "policy.pth" else pickle.dumps(Exception("boom")))
    with pytest.raises(CheckpointError) as caught:
        import_sb3(hostile, tmp_path / "out.pt", env_id="CartPole-v1")
    message = str(caught.value)
    assert "builtins.Exception" in message and "\n" not in message, message
    assert message.rstrip().endswith("state dicts are loaded"), message
