"""Replay memory and sampling speed for Atari-sized observations: rlkit vs Stable-Baselines3.

    python scripts/bench_replay.py                   # 100k transitions of (4, 84, 84) uint8: about a minute, 7 GB
    python scripts/bench_replay.py --capacity 20000  # quicker
    python scripts/bench_replay.py --no-sb3          # rlkit only

Every buffer is filled with the same synthetic stream: one env, episodes of random length (mean 1,000 steps, one in
ten truncated instead of terminated), each step a new random 84x84 frame from a pool, stacks zero-padded at episode
starts as ale-py's AtariVectorEnv pads them. Bytes per transition are counted from the allocated arrays (SB3:
observations + next_observations + actions + rewards + dones + timeouts) divided by the capacity; the 1M column
projects that to 1,000,000 transitions. Speed is batches of 32 per second from the full buffer: rlkit returns numpy
arrays, SB3 torch tensors (its only API). SB3 samples 1-step transitions, so the like-for-like rlkit row is n = 1;
n = 3 reads 7 distinct frames per transition instead of 5. The machine may be shared: samplers are timed in
interleaved rounds and each keeps its best round, since interference only ever slows a round down. Every sampler
runs with the same torch threads (`--threads`): rlkit's frame gather uses torch's intra-op threads where there
are several, SB3's tensor copy whatever torch does with them.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlkit.replay import FrameReplayBuffer, PrioritizedReplay  # noqa: E402

OBS_SHAPE, NUM_ACTIONS, POOL = (4, 84, 84), 18, 4096


def synthetic_stream(steps: int, seed: int):
    """`steps` single-env transitions (obs, action, reward, next_obs, terminated, truncated), shapes (1, ...)."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (POOL,) + OBS_SHAPE[1:], dtype=np.uint8)
    frames = rng.integers(0, POOL, steps)
    ends = rng.random(steps) < 1 / 1000
    truncations = rng.random(steps) < 0.1
    actions = rng.integers(0, NUM_ACTIONS, steps)
    rewards = rng.choice(np.array([0.0, 0.0, 0.0, 1.0], np.float32), steps)
    obs = np.zeros((1,) + OBS_SHAPE, np.uint8)
    obs[0, -1] = pool[rng.integers(POOL)]
    for t in range(steps):
        next_obs = np.empty_like(obs)
        next_obs[0, :-1] = obs[0, 1:]
        next_obs[0, -1] = pool[frames[t]]
        terminated, truncated = ends[t] and not truncations[t], ends[t] and truncations[t]
        yield obs, actions[t:t + 1], rewards[t:t + 1], next_obs, np.array([terminated]), np.array([truncated])
        if ends[t]:
            obs = np.zeros_like(obs)
            obs[0, -1] = pool[frames[t] - 1]
        else:
            obs = next_obs


def fill(add, capacity: int, seed: int) -> float:
    """Fill through `add` with the synthetic stream; returns seconds per add."""
    started = time.perf_counter()
    for transition in synthetic_stream(capacity, seed):
        add(*transition)
    return (time.perf_counter() - started) / capacity


def best_rates(samplers: dict, seconds: float, rounds: int = 10) -> dict:
    """Calls per second of each sampler: interleaved rounds of `seconds / rounds`, the best round of each."""
    best = dict.fromkeys(samplers, 0.0)
    for sample in samplers.values():
        sample()  # warm up
    for _ in range(rounds):
        for name, sample in samplers.items():
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / rounds:
                for _ in range(10):
                    sample()
                count += 10
            best[name] = max(best[name], count / (time.perf_counter() - started))
    return best


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.5, help="timing per sampler and pairing (best of 10 rounds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sb3", action="store_true", help="skip the Stable-Baselines3 buffers")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for every sampler (default: torch's, as a training run of a CNN "
                             "gets with threads: auto)")
    args = parser.parse_args()
    capacity, batch = args.capacity, args.batch_size
    import torch  # imported up front so its memory is not charged to the save/load check
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import rlkit.training.checkpoint  # noqa: F401

    print(f"filling {capacity:,} transitions of {OBS_SHAPE} uint8 ...", file=sys.stderr, flush=True)
    one_step = FrameReplayBuffer(capacity, OBS_SHAPE, np.uint8, n_step=1, seed=args.seed, num_actions=NUM_ACTIONS)
    add_seconds = {"rlkit uniform (frames, n=1)": fill(one_step.add, capacity, args.seed)}
    notes = [save_load_note(one_step)]
    prioritized = PrioritizedReplay(one_step)  # a sum tree over the same storage
    nbytes = {"rlkit uniform (frames, n=1)": one_step.nbytes, "rlkit prioritised (frames, n=1)": prioritized.nbytes}
    samplers = {"rlkit uniform (frames, n=1)": lambda: one_step.sample(batch),
                "rlkit prioritised (frames, n=1)": lambda: prioritized.sample(batch)}
    extra = {}
    if capacity <= 200_000:  # the n=3 buffer is a second copy of the data: skipped for large capacities
        three_step = FrameReplayBuffer(capacity, OBS_SHAPE, np.uint8, n_step=3, seed=args.seed,
                                       num_actions=NUM_ACTIONS)
        three_step.load_state_dict(one_step.state_dict())  # same data; n-step windows are built at sample time
        nbytes["rlkit uniform (frames, n=3)"] = three_step.nbytes
        samplers["rlkit uniform (frames, n=3)"] = lambda: three_step.sample(batch)
        extra["phase"] = lambda: three_step.sample_batches(batch, 8)
    rng = np.random.default_rng(args.seed)

    def prioritized_step():
        sampled = prioritized.sample(batch)
        prioritized.update_priorities(sampled.indices, rng.standard_normal(batch))

    extra["per_step"] = prioritized_step
    rates: dict[str, float] = {}
    for name, sb3_nbytes, sb3_add_seconds, sb3_sample in sb3_buffers(capacity, batch, args):
        nbytes[name], add_seconds[name] = sb3_nbytes, sb3_add_seconds
        # Each SB3 buffer is timed interleaved with rlkit (the first with every rlkit sampler); held one at a time.
        group = {**samplers, **extra} if not rates else {"rlkit uniform (frames, n=1)": samplers[
            "rlkit uniform (frames, n=1)"]}
        for key, rate in best_rates({**group, name: sb3_sample}, args.seconds).items():
            rates[key] = max(rates.get(key, 0.0), rate)
    if not rates:
        rates = best_rates({**samplers, **extra}, args.seconds)
    notes.append(f"rlkit prioritised sample + update_priorities: {rates.pop('per_step'):,.0f} batches/s")
    if "phase" in rates:
        notes.append(f"rlkit n=3 `sample_batches({batch}, 8)` (one draw per training phase): "
                     f"{8 * rates.pop('phase'):,.0f} batches/s")
    started = time.perf_counter()
    for transition in synthetic_stream(2000, args.seed + 1):
        prioritized.add(*transition)
    add_seconds["rlkit prioritised (frames, n=1)"] = (time.perf_counter() - started) / 2000
    notes.append(f"{len(one_step):,} of {capacity:,} slots sampleable (the rest: one filler row per episode end)")

    reference = rates.get("SB3 ReplayBuffer (default)")
    print(f"\n### Replay at {capacity:,} transitions of {OBS_SHAPE} uint8, batch {batch}, "
          f"{torch.get_num_threads()} torch thread(s)\n")
    print("| buffer | bytes / transition | memory at 1M transitions | batches/s | vs SB3 default | add (µs/step) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, speed in rates.items():
        per_transition = nbytes[name] / capacity
        ratio = f"{speed / reference:.2f}x" if reference else "-"
        add = f"{add_seconds[name] * 1e6:,.0f}" if name in add_seconds else "(same data)"
        print(f"| {name} | {per_transition:,.0f} | {per_transition * 1e6 / 2**30:,.1f} GiB | {speed:,.0f} | {ratio} "
              f"| {add} |")
    print()
    for note in notes:
        print(f"- {note}")


def save_load_note(buffer: FrameReplayBuffer) -> str:
    """Save and load a full buffer, watching the process's peak resident memory."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "replay.npz"
        before = peak_rss_mib()
        started = time.perf_counter()
        buffer.save(path)
        saved, after_save = time.perf_counter() - started, peak_rss_mib()
        started = time.perf_counter()
        buffer.load(path)
        loaded = time.perf_counter() - started
        return (f"save {path.stat().st_size / 2**20:,.0f} MiB in {saved:.1f} s, load in {loaded:.1f} s; peak RSS "
                f"{before:,.0f} MiB before, +{after_save - before:,.0f} MiB by saving, "
                f"+{peak_rss_mib() - after_save:,.0f} MiB by loading (buffer arrays: {buffer.nbytes / 2**20:,.0f} MiB)")


def sb3_buffers(capacity: int, batch: int, args):
    """Yield (name, nbytes, seconds per add, sample) for SB3's two ReplayBuffer settings, one buffer alive at a time."""
    if args.no_sb3:
        return
    import gymnasium as gym
    from stable_baselines3.common.buffers import ReplayBuffer as SB3ReplayBuffer

    observation_space = gym.spaces.Box(0, 255, OBS_SHAPE, np.uint8)
    action_space = gym.spaces.Discrete(NUM_ACTIONS)
    for name, optimize in (("SB3 ReplayBuffer (default)", False), ("SB3 ReplayBuffer (optimize_memory_usage)", True)):
        print(f"filling {name} ...", file=sys.stderr, flush=True)
        holder = [SB3ReplayBuffer(capacity, observation_space, action_space, device="cpu", n_envs=1,
                                  optimize_memory_usage=optimize, handle_timeout_termination=not optimize)]

        def add(obs, action, reward, next_obs, terminated, truncated, buffer=holder[0]):
            buffer.add(obs, next_obs, action, reward, terminated | truncated,
                       [{"TimeLimit.truncated": bool(truncated[0])}])

        add_seconds = fill(add, capacity, args.seed)
        buffer = holder[0]
        arrays = [buffer.observations, buffer.actions, buffer.rewards, buffer.dones, buffer.timeouts]
        if not optimize:
            arrays.append(buffer.next_observations)
        nbytes = sum(a.nbytes for a in arrays)
        del buffer, arrays, add
        np.random.seed(args.seed)
        yield name, nbytes, add_seconds, lambda: holder[0].sample(batch)
        holder.clear()  # frees the buffer before the next one is allocated
        gc.collect()

if __name__ == "__main__":
    main()
