"""Observation spaces beyond one Box: Dict / Tuple / Discrete / MultiDiscrete / MultiBinary, end to end."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import toy_envs  # noqa: F401  (registers Cue-v0)
from helpers import CARTPOLE, fast_config, fast_overrides
from rlkit.agents.dqn import DQNAgent
from rlkit.cli import main
from rlkit.config import load_config
from rlkit.errors import EnvError
from rlkit.nets import build_q_network
from rlkit.nets.inputs import MultiInputTorso, SmallCNN, VectorEncoder
from rlkit.nets.torsos import NatureCNN
from rlkit.replay import build_replay
from rlkit.run import train
from rlkit.spaces import ObsField, ObsSpace, UnsupportedSpace
from rlkit.training.evaluate import load_agent
from rlkit.vec import make_env, make_vec_env

CUE = "toy_envs:Cue-v0"
NESTED = gym.spaces.Dict({
    "pos": gym.spaces.Tuple((gym.spaces.Discrete(5, start=1), gym.spaces.MultiDiscrete([2, 3]))),
    "flags": gym.spaces.MultiBinary(4),
    "frame": gym.spaces.Box(0, 255, (3, 40, 40), np.uint8),
    "note": gym.spaces.Text(8),
})


def test_fields_of_a_nested_space():
    space = ObsSpace.from_gym(NESTED)
    names = [f.name for f in space.fields]
    assert names == ["flags", "frame", "pos.0", "pos.1"]  # Gymnasium sorts Dict keys; Text is dropped
    assert space.dropped == ("note",)
    assert space.fields[2] == ObsField("pos.0", "discrete", (), "int64", (5,), 1)
    assert space.fields[3].sizes == (2, 3) and space.fields[3].width == 5
    assert space.shape == () and space.dtype.names == tuple(names)
    assert ObsSpace.from_dict(space.to_dict()) == space


def test_plain_spaces_stay_plain():
    box = ObsSpace.from_gym(gym.spaces.Box(-1, 1, (4,), np.float32))
    assert box.plain_box and box.shape == (4,) and box.dtype == np.float32
    assert box == ObsSpace.box((4,), "float32")
    discrete = ObsSpace.from_gym(gym.spaces.Discrete(16))
    assert not discrete.composite and not discrete.plain_box and discrete.shape == () and discrete.dtype == np.int64


def test_pack_a_batch_and_a_single_observation():
    space = ObsSpace.from_gym(NESTED)
    samples = [NESTED.sample() for _ in range(3)]
    single = space.pack(samples[0])
    assert single.shape == () and int(single["pos.0"]) == samples[0]["pos"][0]
    batch = space.pack({"flags": np.stack([s["flags"] for s in samples]),
                        "frame": np.stack([s["frame"] for s in samples]),
                        "pos": (np.array([s["pos"][0] for s in samples]), np.stack([s["pos"][1] for s in samples]))})
    assert batch.shape == (3,)
    np.testing.assert_array_equal(batch["frame"][2], samples[2]["frame"])
    inputs = space.network_inputs(batch, torch.device("cpu"))
    assert inputs["frame"].dtype == torch.uint8 and inputs["frame"].shape == (3, 3, 40, 40)
    assert inputs["pos.1"].shape == (3, 2)
    with pytest.raises(ValueError, match="no key 'flags'"):
        space.pack({"frame": samples[0]["frame"]})


def test_unsupported_spaces_are_refused():
    with pytest.raises(UnsupportedSpace, match="Graph"):
        ObsSpace.from_gym(gym.spaces.Dict({"g": gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None)}))
    with pytest.raises(UnsupportedSpace, match="no input"):
        ObsSpace.from_gym(gym.spaces.Dict({"note": gym.spaces.Text(4)}))


def test_one_hot_encoding_on_a_hand_example():
    encoder = VectorEncoder(ObsField("pos", "multi_discrete", (2,), "int64", (2, 3)))
    out = encoder(torch.tensor([[1, 2], [0, 0]]))
    torch.testing.assert_close(out, torch.tensor([[0., 1., 0., 0., 1.], [1., 0., 1., 0., 0.]]))
    shifted = VectorEncoder(ObsField("d", "discrete", (), "int64", (3,), start=1))
    torch.testing.assert_close(shifted(torch.tensor([1, 3])), torch.tensor([[1., 0., 0.], [0., 0., 1.]]))


def test_auto_torso_picks_an_encoder_per_key():
    space = ObsSpace.from_gym(gym.spaces.Dict({
        "big": gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), "small": gym.spaces.Box(0, 255, (7, 7, 3), np.uint8),
        "vec": gym.spaces.Box(-1, 1, (5,), np.float32), "d": gym.spaces.Discrete(4)}))
    torso = MultiInputTorso(space, [64])
    kinds = {key: type(enc.cnn).__name__ if hasattr(enc, "cnn") else "flat" for key, enc in
             zip(torso.keys, torso.encoders.values())}
    assert kinds == {"big": "NatureCNN", "small": "SmallCNN", "vec": "flat", "d": "flat"}
    batch = space.pack({"big": np.zeros((2, 84, 84, 3), np.uint8), "small": np.zeros((2, 7, 7, 3), np.uint8),
                        "vec": np.zeros((2, 5), np.float32), "d": np.array([0, 3])})
    assert torso(space.network_inputs(batch, torch.device("cpu"))).shape == (2, 64)
    with pytest.raises(ValueError, match="names key 'nope'"):
        MultiInputTorso(space, [64], {"nope": "mlp"})
    with pytest.raises(ValueError, match="needs an image"):
        MultiInputTorso(space, [64], {"vec": "small_cnn"})


def test_a_lone_image_key_feeds_the_head_from_its_cnn():
    space = ObsSpace.from_gym(gym.spaces.Dict({"frame": gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)}))
    network = build_q_network(space, 3, 1, "auto", [256], dueling=False)
    assert network.torso.trunk is None and isinstance(network.torso.encoders["key_frame"].cnn, NatureCNN)


def test_image_scale_and_layout():
    field = ObsField("grid", "box", (6, 6, 3), "uint8")
    assert field.channels_last and field.image_chw == (3, 6, 6)
    board = ObsField("board", "box", (6, 7, 2), "int8")  # not a uint8 image, but a CNN may still take it
    assert not board.is_image and board.channels_last and board.image_chw == (2, 6, 7)
    assert ObsField("frames", "box", (4, 84, 84), "uint8").image_chw == (4, 84, 84)
    space = ObsSpace((field,))
    torso = MultiInputTorso(space, [8], scales={"grid": 0.5})
    encoder = torso.encoders["key_grid"]
    assert encoder.scale == 0.5 and isinstance(encoder.cnn, SmallCNN)


def test_replay_stores_structured_observations_and_files_round_trip(tmp_path):
    env = make_vec_env(CUE, num_envs=2, seed=0)
    replay = build_replay(100, env.obs_shape, env.obs_dtype, env.num_envs, n_step=2, seed=0)
    obs = env.reset(seed=0)
    for _ in range(20):
        actions = env.sample_actions()
        out = env.step(actions)
        replay.add(obs, actions, out.rewards, out.next_obs, out.terminated, out.truncated)
        obs = out.obs
    env.close()
    batch = replay.sample(8)
    assert batch.obs.dtype == env.obs_dtype and batch.obs["grid"].shape == (8, 6, 6, 3)
    replay.save(tmp_path / "replay.npz", step=40)
    again = build_replay(100, env.obs_shape, env.obs_dtype, env.num_envs, n_step=2, seed=0)
    again.load(tmp_path / "replay.npz")
    np.testing.assert_array_equal(again.gather(batch.indices).next_obs, batch.next_obs)


def test_vector_env_keeps_the_true_final_observation():
    env = make_vec_env(CUE, num_envs=2, seed=3, vectorization="async")
    obs = env.reset(seed=3)
    for _ in range(5):  # the 5th step truncates both envs
        out = env.step(env.sample_actions())
    env.close()
    assert out.truncated.all() and out.next_obs is not out.obs
    # the cue shows in the grid's channel: the final obs is a real obs of its own episode, consistent in itself
    for packed in (out.obs, out.next_obs):
        for row in packed:
            assert row["grid"][0, 0, row["cue"]] == 255


def test_agent_acts_on_dict_observations_as_the_env_hands_them_out():
    env = make_env(CUE)
    config = load_config(CARTPOLE, ["agent.net.hidden=[16]"])
    agent = DQNAgent(config.agent, (), None, 3, obs_space=env.rlkit_obs_space)
    obs, _ = env.reset(seed=0)
    assert isinstance(agent.act(obs), int)  # a raw dict, mission string included (not an input)
    batch = env.rlkit_obs_space.pack({"cue": np.array([0, 1]), "grid": np.zeros((2, 6, 6, 3), np.uint8),
                                      "noise": np.zeros((2, 2), np.float32)})
    assert agent.act(batch, epsilon=0.5).shape == (2,)
    with pytest.raises(ValueError, match="no key 'noise'"):
        agent.act({"cue": 0, "grid": np.zeros((6, 6, 3), np.uint8)})
    env.close()


@pytest.mark.parametrize("overrides", [
    ["agent.critic.type=scalar"],
    ["agent.critic.type=c51", "agent.critic.bins=11", "agent.critic.v_min=0", "agent.critic.v_max=5",
     "replay.prioritized=true"],
    ["agent.critic.type=qr", "agent.critic.quantiles=8", "agent.name=dueling_dqn", "agent.n_step=1"],
    ["agent.critic.type=iqn", "agent.critic.tau_samples=4", "agent.critic.tau_prime_samples=4",
     "agent.critic.act_samples=4", "agent.net.noisy=true"],
    ["agent.name=dqn", "agent.munchausen={}"],
])
def test_every_critic_trains_on_a_dict_env(tmp_path, overrides, capsys):
    run = tmp_path / "run"
    argv = ["train", str(CARTPOLE), *fast_overrides(run), f"env.id={CUE}", "train.total_steps=300",
            "env.num_envs=2", *overrides, "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    agent = load_agent(run / "checkpoints" / "final.pt")
    env = make_env(CUE)
    obs, _ = env.reset(seed=1)
    assert 0 <= agent.act(obs) < 3
    env.close()


def test_dict_run_resumes_and_evaluates(tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", str(CARTPOLE), *fast_overrides(run), f"env.id={CUE}", "replay.save_with_checkpoint=true",
            "--no-progress"]
    assert main([*base, "train.total_steps=300"]) == 0
    assert main(["train", "--resume", str(run), "train.total_steps=600", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoints" / "final.pt"), "--episodes", "2"]) == 0
    assert "mean return" in capsys.readouterr().out
    # another env's observations are refused with both spaces named
    assert main(["eval", str(run / "checkpoints" / "final.pt"), "--env", "CartPole-v1"]) == 2
    assert "Dict(cue: discrete 3" in capsys.readouterr().err


@pytest.mark.slow
def test_cue_env_is_learned_from_its_dict_observation(tmp_path):
    from rlkit.run import train
    config = load_config(CARTPOLE, [f"env.id={CUE}", f"run_dir={tmp_path / 'run'}", "train.total_steps=3000",
                                    "train.learning_starts=500", "train.eval_every=1500", "agent.target_period=200",
                                    "exploration.fraction=0.3", "agent.net.hidden=[64]", "threads=1"])
    assert train(config, progress=False).eval_mean >= 4.5


def test_discrete_observations_train(tmp_path, capsys):
    assert main(["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), "env.id=FrozenLake-v1",
                 "train.total_steps=300", "--no-progress"]) == 0
    agent = load_agent(tmp_path / "run" / "checkpoints" / "final.pt")
    assert agent.obs_space.fields[0].kind == "discrete" and 0 <= agent.act(np.int64(5)) < 4


def test_unsupported_observation_spaces_are_one_line_env_errors():
    with pytest.raises(EnvError, match="Graph"):
        from rlkit.vec import observation_space_of
        observation_space_of("x", gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None), False)


def test_tuple_and_multibinary_observations_train_and_act(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run), "env.id=toy_envs:TupleCue-v0",
                 "env.vectorization=async", "env.num_envs=2", "train.total_steps=300", "--no-progress"]) == 0
    agent = load_agent(run / "checkpoints" / "final.pt")
    assert [f.name for f in agent.obs_space.fields] == ["0", "1"]
    assert 0 <= agent.act((2, np.array([0, 0, 1], np.int8))) < 3


@pytest.mark.parametrize("env_id", ["toy_envs:RGB-v0", "toy_envs:RGBChw-v0"])
def test_unstacked_colour_images_train_with_the_default_storage(tmp_path, env_id):
    # Regression: replay.storage=auto took any uint8 rank-3 image with a first axis > 1 for a frame stack, and the
    # frame storage refused the first add of an ordinary colour image (channels first or last).
    result = train(fast_config(tmp_path / "run", f"env.id={env_id}", "train.total_steps=150",
                               "train.learning_starts=64", "train.eval_episodes=1", "replay.capacity=500"),
                   progress=False)
    assert result.updates > 0
