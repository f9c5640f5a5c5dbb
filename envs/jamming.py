"""Anti-jamming channel selection in the 5 GHz band: ``rlkit/Jamming-v0``.

After Ali, Naser and Muhaidat, "Defeating Proactive Jammers Using Deep Reinforcement Learning for
Resource-Constrained IoT Networks" (arXiv 2307.06796): an IoT transmitter picks one of eight 20 MHz channels in each
time slot while a proactive jammer (one that does not listen before jamming) occupies one channel per slot.

    env = gymnasium.make("rlkit/Jamming-v0", jammer="sweeping")
    obs, info = env.reset(seed=0)           # obs: (8,) float32, SNR in dB per channel, sensed in the last slot
    obs, reward, terminated, truncated, info = env.step(3)   # transmit on channel index 3 (5240 MHz) this slot

Where each parameter comes from
-------------------------------
From the paper (as set out in rlkit issue 6):
  * 8 channels, 5180 to 5320 MHz, 20 MHz apart (802.11 channels 36, 40, ..., 64); action = channel index 0..7.
  * Jammer strategies ``constant``, ``sweeping``, ``random`` and ``dynamic``; a 20 MHz jamming signal; the reward 1 for
    a successful slot, 1 - switch cost after a channel switch, 0 when jammed; five DQN variants trained against it.
Not given numerically there (the paper senses a real NIC's spectral scan), so typical 802.11 5 GHz figures:
  * ``noise_floor_dbm = -95``: thermal noise over 20 MHz (-174 dBm/Hz + 73 dB = -101 dBm) plus a 6 dB receiver noise
    figure, typical of 802.11 NICs.
  * ``signal_dbm = -60``: received power of the legitimate link, a short indoor link (35 dB SNR when clear).
  * ``jammer_dbm = -40``: received jammer power in the jammed channel, 20 dB above the link (a jammer close by).
  * ``leakage_db = (0, -28, -40)``: jammer power leaking into channels 0, 1 and >= 2 channels away; the 802.11 OFDM
    transmit spectrum mask (IEEE 802.11-2020, 17.3.9.3: -28 dBr at 20 MHz offset, -40 dBr at 30 MHz and beyond),
    read at the neighbouring channel's centre.
  * ``measurement_noise_db = 1``: Gaussian error of each SNR reading (1 sigma), spectral-scan style RSSI jitter.
  * ``switch_cost = 0.2`` (the issue's default) and ``episode_length = 100`` slots.

The model, per slot t
---------------------
* Jammer: centred on channel ``j_t`` with 20 MHz bandwidth. ``constant``: ``j_t = j_0`` for the whole episode.
  ``sweeping``: ``j_t = (j_{t-1} + 1) mod 8``, always upwards in frequency, wrapping from 5320 to 5180 MHz.
  ``random``: ``j_t`` uniform over the 7 channels other than ``j_{t-1}``. ``dynamic``: one of the three drawn
  uniformly at each reset. ``j_0`` is uniform over the 8 channels.
* Sensed SNR of channel k: ``signal_dbm - 10 log10(N + J * L(|k - j_t|))`` in dB (powers in mW, ``L`` the leakage
  above) plus Gaussian measurement noise, clipped to the observation bounds [-50, 60] dB. Jammed channel: about
  -20 dB; its neighbours: about 8 dB; the rest: about 20 dB.
* Jammed: a transmission on channel c in slot t fails iff the jammer's centre lies within +-10 MHz of c's centre,
  ``|f_c - f_{j_t}| <= 10 MHz``. With 20 MHz spacing that is exactly ``c == j_t``: neighbours see leakage (a lower
  SNR) but are not counted as jammed.
* Reward: 0 if jammed; otherwise 1, or ``1 - switch_cost`` if c differs from the channel used in slot t-1. The first
  slot of an episode has no previous channel, so it is never a switch.

What the agent observes, and when
---------------------------------
``reset`` returns the spectrum sensed in slot 0 (showing ``j_0``); ``step(c)`` plays slot t >= 1 on channel c against
``j_t`` and returns the spectrum sensed during slot t. So the observation the agent acts on is always the previous
slot's spectrum: a constant jammer is avoided exactly, a sweeping jammer's next channel is ``argmin(obs) + 1``
(predictable), and a random jammer's is not (best play keeps a channel: about 87.5 of 100). By default the
observation is the 8 SNR values only; ``observe_channel=True`` appends the one-hot of the channel used in the last
slot (16 values). The switch cost depends on that channel, so without it the problem is partially observed: a
memoryless policy can still avoid switching, but DQN learns it slowly (the preset configs/jamming_dqn.yaml turns it
on). Episodes never terminate; they are truncated after ``episode_length`` slots (the registration's TimeLimit says
the same for the default 100).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

NUM_CHANNELS = 8
FIRST_CHANNEL_MHZ = 5180.0
CHANNEL_SPACING_MHZ = 20.0
JAMMER_HALF_BANDWIDTH_MHZ = 10.0
JAMMERS = ("constant", "sweeping", "random", "dynamic")
SNR_LOW_DB, SNR_HIGH_DB = -50.0, 60.0


class JammingEnv(gym.Env):
    """Eight-channel anti-jamming channel selection; see the module docstring for the model and its sources.

    Args:
        jammer: 'constant', 'sweeping', 'random' or 'dynamic' (a type drawn per episode).
        switch_cost: reward lost in a slot right after a channel switch (0 <= switch_cost <= 1).
        episode_length: slots per episode; the env truncates after this many steps.
        noise_floor_dbm, signal_dbm, jammer_dbm: receiver noise, legitimate and jammer received powers, in dBm.
        leakage_db: jammer power in channels 0, 1, 2, ... away from its centre, relative to the centre, in dB; the
            last entry applies to every farther channel.
        measurement_noise_db: standard deviation of the Gaussian error of each SNR reading, in dB.
        observe_channel: append the one-hot of the channel used in the last slot to the observation.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        jammer: str = "dynamic",
        switch_cost: float = 0.2,
        episode_length: int = 100,
        noise_floor_dbm: float = -95.0,
        signal_dbm: float = -60.0,
        jammer_dbm: float = -40.0,
        leakage_db: tuple[float, ...] = (0.0, -28.0, -40.0),
        measurement_noise_db: float = 1.0,
        observe_channel: bool = False,
        render_mode: str | None = None,
    ):
        if jammer not in JAMMERS:
            raise ValueError(f"jammer must be one of {', '.join(JAMMERS)}, got '{jammer}'")
        if not 0.0 <= switch_cost <= 1.0:
            raise ValueError(f"switch_cost must lie in [0, 1], got {switch_cost}")
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        if not leakage_db:
            raise ValueError("leakage_db needs at least the jammed channel's own entry (0 dB)")
        self.jammer = jammer
        self.switch_cost = float(switch_cost)
        self.episode_length = int(episode_length)
        self.measurement_noise_db = float(measurement_noise_db)
        self.observe_channel = bool(observe_channel)
        self.render_mode = render_mode
        self.channels_mhz = FIRST_CHANNEL_MHZ + CHANNEL_SPACING_MHZ * np.arange(NUM_CHANNELS)
        low = np.full(NUM_CHANNELS * (2 if observe_channel else 1), SNR_LOW_DB, dtype=np.float32)
        high = np.full_like(low, SNR_HIGH_DB)
        if observe_channel:
            low[NUM_CHANNELS:], high[NUM_CHANNELS:] = 0.0, 1.0
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(NUM_CHANNELS)
        # Mean SNR (dB) of every channel k when the jammer sits on channel j: table[j, k]; powers summed in mW.
        offsets = np.abs(np.arange(NUM_CHANNELS)[:, None] - np.arange(NUM_CHANNELS)[None, :])
        leakage = np.asarray(leakage_db, dtype=np.float64)[np.minimum(offsets, len(leakage_db) - 1)]
        interference_mw = 10.0 ** (noise_floor_dbm / 10.0) + 10.0 ** ((jammer_dbm + leakage) / 10.0)
        self._mean_snr_db = signal_dbm - 10.0 * np.log10(interference_mw)
        self._jammed = np.abs(self.channels_mhz[:, None] - self.channels_mhz[None, :]) <= JAMMER_HALF_BANDWIDTH_MHZ
        self._type = "constant"
        self._jammer_channel = 0
        self._previous_channel: int | None = None
        self._slot = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        rng = self.np_random
        self._type = self.jammer if self.jammer != "dynamic" else JAMMERS[int(rng.integers(3))]
        self._jammer_channel = int(rng.integers(NUM_CHANNELS))
        self._previous_channel = None
        self._slot = 0
        return self._sense(), self._info(jammed=False, switched=False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        channel = int(action)
        if not 0 <= channel < NUM_CHANNELS:
            raise ValueError(f"action must be a channel index in 0..{NUM_CHANNELS - 1}, got {action!r}")
        self._slot += 1
        self._jammer_channel = self._next_jammer_channel()
        jammed = bool(self._jammed[self._jammer_channel, channel])
        switched = self._previous_channel is not None and channel != self._previous_channel
        reward = 0.0 if jammed else 1.0 - (self.switch_cost if switched else 0.0)
        self._previous_channel = channel
        truncated = self._slot >= self.episode_length
        return self._sense(), reward, False, truncated, self._info(jammed=jammed, switched=switched)

    # -- the model ------------------------------------------------------------------------------------------------
    def _next_jammer_channel(self) -> int:
        current = self._jammer_channel
        if self._type == "constant":
            return current
        if self._type == "sweeping":
            return (current + 1) % NUM_CHANNELS
        # random: a new channel each slot, uniform over the other seven.
        return int((current + 1 + self.np_random.integers(NUM_CHANNELS - 1)) % NUM_CHANNELS)

    def _sense(self) -> np.ndarray:
        """SNR (dB) of every channel during the current slot, with measurement noise: (8,) float32; with
        observe_channel, followed by the one-hot of the channel used in that slot (zeros before the first): (16,)."""
        snr = self._mean_snr_db[self._jammer_channel]
        if self.measurement_noise_db > 0:
            snr = snr + self.np_random.normal(0.0, self.measurement_noise_db, NUM_CHANNELS)
        obs = np.clip(snr, SNR_LOW_DB, SNR_HIGH_DB).astype(np.float32)
        if not self.observe_channel:
            return obs
        used = np.zeros(NUM_CHANNELS, dtype=np.float32)
        if self._previous_channel is not None:
            used[self._previous_channel] = 1.0
        return np.concatenate([obs, used])

    def _info(self, jammed: bool, switched: bool) -> dict[str, Any]:
        return {
            "jammer_type": self._type,
            "jammer_channel": self._jammer_channel,
            "jammer_mhz": float(self.channels_mhz[self._jammer_channel]),
            "jammed": jammed,
            "switched": switched,
            "slot": self._slot,
        }
