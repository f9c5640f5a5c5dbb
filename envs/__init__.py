"""rlkit's own environments, registered with Gymnasium under the ``rlkit/`` namespace on import.

``rlkit.vec.make_env`` imports this package for any ``rlkit/...`` id, so configs can name them directly.

| id | what |
|---|---|
| ``rlkit/Jamming-v0`` | 8-channel 5 GHz anti-jamming channel selection (envs/jamming.py) |
| ``rlkit/NoisyCartPole-v1`` | CartPole-v1 with Gaussian noise (sigma 1 by default) added to every reward (envs/noisy_reward.py) |
| ``rlkit/ConnectFour-v0`` | Connect Four against a random or fixed opponent, with legal-action masks (envs/connect_four.py) |
| ``rlkit/SlidingTile-v0``, ``rlkit/Cube3-v0``, ``rlkit/LightsOut-v0`` | the search puzzles as Gymnasium envs |
"""

import gymnasium as gym

_ENVS = {
    "rlkit/Jamming-v0": ("rlkit.envs.jamming:JammingEnv", 100),
    "rlkit/NoisyCartPole-v1": ("rlkit.envs.noisy_reward:make_noisy_cartpole", None),
    "rlkit/ConnectFour-v0": ("rlkit.envs.connect_four:ConnectFourEnv", None),
    "rlkit/SlidingTile-v0": ("rlkit.envs.puzzles.gym_env:SlidingTileEnv", None),
    "rlkit/Cube3-v0": ("rlkit.envs.puzzles.gym_env:Cube3Env", None),
    "rlkit/LightsOut-v0": ("rlkit.envs.puzzles.gym_env:LightsOutEnv", None),
}

for _env_id, (_entry_point, _max_steps) in _ENVS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point, max_episode_steps=_max_steps)
