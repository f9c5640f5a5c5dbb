"""Every DQN-family variant works with the rest of the surface: train, --resume, rlkit eval, load_agent and
rlkit export (fp32, and int8 where the head allows; a clear refusal with exit status 2 where it does not)."""

import numpy as np
import pytest

from rlkit.cli import main
from rlkit.training.evaluate import load_agent

from helpers import ROOT, fast_overrides

VARIANTS = {
    "qr": ["agent.name=dqn", "agent.critic.type=qr", "agent.critic.quantiles=5"],
    "iqn": ["agent.critic.type=iqn", "agent.critic.tau_samples=4", "agent.critic.tau_prime_samples=4",
            "agent.critic.act_samples=4", "agent.critic.embedding_dim=8"],
    "noisy": ["agent.net.noisy=true", "exploration.start=0", "exploration.end=0"],
    "rainbow": ["agent.name=rainbow", "agent.critic.type=c51", "agent.critic.bins=11", "agent.critic.v_min=0", "agent.critic.v_max=50"],
    "munchausen": ["agent.name=dqn", "agent.munchausen={}"],  # cartpole_dqn.yaml is double_dqn
    "m_iqn": ["agent.name=dqn", "agent.munchausen={}", "agent.critic.type=iqn", "agent.critic.tau_samples=4",
              "agent.critic.tau_prime_samples=4", "agent.critic.act_samples=4", "agent.critic.embedding_dim=8"],
    "m_qr": ["agent.name=dqn", "agent.munchausen={}", "agent.critic.type=qr", "agent.critic.quantiles=5"],
    "pqn": ["agent.name=pqn", "env.num_envs=4", "pqn.rollout_steps=25", "pqn.minibatches=4", "pqn.epochs=1"],
}
INT8_REFUSED = {"iqn": "IQN agent", "m_iqn": "IQN agent"}


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_trains_resumes_evaluates_and_exports(name, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = ROOT / "configs" / ("cartpole_pqn.yaml" if name == "pqn" else "cartpole_dqn.yaml")
    base = [*fast_overrides(run_dir), *VARIANTS[name], "train.total_steps=300"]
    assert main(["train", str(config), *base, "--no-progress"]) == 0
    assert main(["train", "--resume", str(run_dir), "train.total_steps=600", "--no-progress"]) == 0
    final = run_dir / "checkpoints" / "final.pt"
    assert main(["eval", str(final), "--episodes", "2"]) == 0
    agent = load_agent(final)
    assert agent.act(np.zeros(4, np.float32)) in (0, 1)
    assert main(["export", str(final), "--format", "onnx", "--out", str(tmp_path / "fp32.onnx"),
                 "--observations", "200"]) == 0
    assert "greedy agreement 100.0%" in capsys.readouterr().out
    code = main(["export", str(final), "--format", "onnx", "--quantize", "int8", "--out", str(tmp_path / "int8"),
                 "--observations", "200"])
    if name in INT8_REFUSED:
        assert code == 2 and INT8_REFUSED[name] in capsys.readouterr().err
        assert not (tmp_path / "int8.onnx").exists()
    else:
        assert code == 0 and (tmp_path / "int8.onnx").exists()
