"""The update paths (agents/update_paths.py): the fused MLP update and torch.compile's give the eager update's
parameters after 100 updates from the same seed; ``agent.compile`` picks and refuses clearly."""

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.errors import ConfigError
from rlkit.replay import Batch


def make_agent(compile_setting, *overrides, obs_shape=(4,), num_actions=3):
    config = load_config(None, ["seed=3", "agent.net.hidden=[32, 32]", "agent.lr=0.003", f"agent.compile={compile_setting}",
                                *overrides])
    return build_agent(config, obs_shape, "float32", num_actions, torch.device("cpu"))


def batches(count, size=16, obs_shape=(4,), num_actions=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        terminal = rng.random(size) < 0.2
        out.append(Batch(obs=rng.normal(size=(size, *obs_shape)).astype(np.float32),
                         actions=rng.integers(num_actions, size=size),
                         returns=rng.normal(size=size).astype(np.float32) * 3,
                         discounts=np.where(terminal, 0.0, 0.97).astype(np.float32),
                         next_obs=rng.normal(size=(size, *obs_shape)).astype(np.float32),
                         indices=np.arange(size), weights=rng.uniform(0.2, 1.0, size).astype(np.float32)))
    return out


def assert_same_training(eager, other, updates=100, target_period=10, **batch_kwargs):
    for step, batch in enumerate(batches(updates, **batch_kwargs)):
        a, b = eager.update(batch), other.update(batch)
        torch.testing.assert_close(b["loss"], a["loss"], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b["td_errors"], a["td_errors"], rtol=1e-4, atol=1e-4)
        if step % target_period == target_period - 1:
            eager.update_target()
            other.update_target()
    for (name, p), q in zip(eager.online.named_parameters(), other.online.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=f"parameter {name} differs")
    optimizer_a, optimizer_b = eager.optimizer.state_dict()["state"], other.optimizer.state_dict()["state"]
    for key in optimizer_a:
        torch.testing.assert_close(optimizer_b[key]["exp_avg_sq"], optimizer_a[key]["exp_avg_sq"], rtol=1e-3,
                                   atol=1e-9)
        assert float(optimizer_b[key]["step"]) == float(optimizer_a[key]["step"]) == updates


@pytest.mark.parametrize("overrides", [
    (),
    ("agent.name=double_dqn",),
    ("agent.name=dueling_dqn", "agent.critic.loss=mse"),
    ("agent.name=double_dueling_dqn", "agent.max_grad_norm=0.5"),  # the clip binds
    ("agent.max_grad_norm=null", "agent.net.hidden=[8]"),
    ("agent.net.hidden=[16, 8, 16]",),  # deeper, uneven widths
    ("agent.critic.type=qr", "agent.critic.quantiles=5"),  # QR-DQN: the quantile Huber loss
    ("agent.name=double_dueling_dqn", "agent.critic.type=qr", "agent.critic.quantiles=7", "agent.max_grad_norm=0.5"),
    ("agent.critic.type=qr", "agent.critic.quantiles=4", "agent.critic.kappa=0.5", "agent.max_grad_norm=null"),
])
def test_fused_update_matches_eager_after_100_updates(overrides):
    eager, fused = make_agent("off", *overrides), make_agent("fused", *overrides)
    assert (eager.update_path, fused.update_path) == ("eager", "fused")
    assert_same_training(eager, fused)


def test_fused_update_flattens_image_like_boxes():
    shape = (2, 3)
    eager, fused = make_agent("off", obs_shape=shape), make_agent("fused", obs_shape=shape)
    assert_same_training(eager, fused, updates=20, obs_shape=shape)


def test_fused_and_eager_hand_over_through_a_checkpoint():
    """Switching paths mid-run (a resume with another agent.compile) continues the same optimiser state."""
    eager, fused = make_agent("off"), make_agent("fused")
    data = batches(40)
    for batch in data[:20]:
        eager.update(batch)
        fused.update(batch)
    swapped_to_fused, swapped_to_eager = make_agent("fused"), make_agent("off")
    swapped_to_fused.load_state_dict(eager.state_dict())
    swapped_to_eager.load_state_dict(fused.state_dict())
    for batch in data[20:]:
        for agent in (eager, fused, swapped_to_fused, swapped_to_eager):
            agent.update(batch)
    for agent in (fused, swapped_to_fused, swapped_to_eager):
        for p, q in zip(eager.online.parameters(), agent.online.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


def test_auto_picks_fused_for_plain_mlps_and_eager_elsewhere():
    assert make_agent("auto").update_path == "fused"
    assert make_agent("auto", "agent.name=double_dueling_dqn").update_path == "fused"
    assert make_agent("auto", "agent.critic.type=c51").update_path == "eager"
    assert make_agent("auto", "agent.net.noisy=true").update_path == "eager"
    assert make_agent("auto", "agent.critic.type=qr").update_path == "fused"
    assert make_agent("on", "agent.critic.type=iqn").update_path == "inductor"
    assert make_agent("off").update_path == "eager"


@pytest.mark.parametrize("overrides, reason", [
    (("agent.critic.type=c51",), "critic.type=c51"),
    (("agent.critic.type=iqn",), "critic.type=iqn"),
    (("agent.net.noisy=true",), "net.noisy"),
    (("agent.net.norm=layer",), "net.norm=layer"),
    (("agent.munchausen={alpha: 0.9, tau: 0.03, clip: -1}",), "munchausen"),
    (("agent.net.quant=int8",), "net.quant=int8"),
])
def test_fused_refuses_what_it_cannot_run_when_the_agent_is_built(overrides, reason):
    with pytest.raises(ConfigError, match=f"agent.compile=fused does not support .*{reason}"):
        make_agent("fused", *overrides)


def test_yaml_on_and_off_read_as_the_settings():
    """A bare on/off in YAML is a boolean; the config reads it as the setting it spells."""
    assert load_config(None, ["agent.compile=off"]).agent.compile == "off"
    assert load_config(None, ["agent.compile=on"]).agent.compile == "on"
    with pytest.raises(ConfigError, match="agent.compile"):
        load_config(None, ["agent.compile=fast"])


def test_fused_update_learns_a_fixed_batch():
    agent = make_agent("fused", "agent.gamma=0.0", "agent.lr=0.01")
    batch = batches(1, size=32)[0]
    batch.discounts[:] = 0.0
    first = agent.update(batch)["loss"].item()
    for _ in range(300):
        last = agent.update(batch)["loss"].item()
    assert last < 0.05 * first


def test_inductor_update_matches_eager_after_100_updates():
    """torch.compile of the eager loss (agent.compile=inductor; compiling takes seconds at the first update)."""
    eager, compiled = make_agent("off", "agent.name=double_dqn"), make_agent("inductor", "agent.name=double_dqn")
    assert compiled.update_path == "inductor"
    assert_same_training(eager, compiled)


def test_cuda_graph_needs_a_cuda_device():
    with pytest.raises(ConfigError, match="agent.compile=cuda_graph does not support device cpu"):
        make_agent("cuda_graph")
    assert make_agent("on").update_path == "fused"  # a CPU: on means fused where the network allows it


@pytest.mark.parametrize("updates_before", [0, 5])
def test_cuda_graph_warm_up_is_undone_before_the_first_replay(updates_before):
    """Capture runs warm-up updates for real; the path saves and restores everything they change (device-agnostic
    helpers, checked here on the CPU): after restoring, training continues exactly as if they never ran."""
    from rlkit.agents.cuda_graph import _restore, _snapshot

    reference, warmed = make_agent("off", "agent.name=double_dqn"), make_agent("off", "agent.name=double_dqn")
    data = batches(updates_before + 10)
    for batch in data[:updates_before]:
        reference.update(batch)
        warmed.update(batch)
    saved = _snapshot(warmed)
    for _ in range(3):
        warmed.update(data[-1])
    _restore(warmed, saved)
    for batch in data[updates_before:]:
        reference.update(batch)
        warmed.update(batch)
    for p, q in zip(reference.online.parameters(), warmed.online.parameters()):
        assert torch.equal(p, q)
