"""Ape-X: actor epsilons, sharded prioritised replay, local mode, and Ray with an actor killed mid-run."""

import subprocess
import sys
import threading
import time
from collections import deque

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlkit.agents.registry import resolve_preset
from rlkit.config import load_config
from rlkit.distributed import ShardedReplay, actor_epsilon
from rlkit.training.evaluate import load_agent
from rlkit.run import resume, train

from helpers import ROOT

APEX = ROOT / "configs" / "cartpole_apex.yaml"
SMALL = ["agent.net.hidden=[32]", "replay.capacity=4000", "train.learning_starts=200", "train.train_freq=8",
         "train.gradient_steps=2", "train.eval_every=0", "train.checkpoint_every=500", "train.eval_episodes=2",
         "train.log_every=200", "distributed.chunk_steps=16", "distributed.weight_period=10"]


def test_actor_epsilons_follow_apex():
    assert actor_epsilon(0, 1) == 0.4
    assert actor_epsilon(0, 8) == pytest.approx(0.4)
    assert actor_epsilon(7, 8) == pytest.approx(0.4 ** 8)
    assert actor_epsilon(1, 3) == pytest.approx(0.4 ** 4.5)


def test_sharded_replay_samples_in_proportion_across_shards():
    config = load_config(APEX, ["replay.capacity=200", "replay.batch_size=8", "agent.n_step=1", "replay.alpha=1.0"])
    replay = ShardedReplay(config, 2, (4,), np.float32, 2)
    for shard, priority in ((0, 1.0), (1, 3.0)):
        for t in range(50):
            added, _ = replay.shards[shard].add(np.full((1, 4), t, np.float32), np.zeros(1, int), np.ones(1),
                                                np.full((1, 4), t + 1, np.float32), np.zeros(1, bool),
                                                np.zeros(1, bool))
            replay.shards[shard].update_priorities(added, np.array([priority]))
    drawn = np.concatenate([replay.sample(64).indices // replay.slots for _ in range(100)])
    assert abs(drawn.mean() - 0.75) < 0.03  # shard 1 holds 3/4 of the priority mass
    batch = replay.sample(64)
    replay.update_priorities(batch.indices, np.zeros(64))
    assert batch.weights.max() == pytest.approx(1.0)


def test_local_mode_trains_checkpoints_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    config = load_config(APEX, [*SMALL, "distributed.mode=local", "train.total_steps=1200", f"run_dir={run_dir}"])
    result = train(config, progress=False)
    assert result.steps >= 1200 and result.updates > 0
    assert 0 < result.warmup_seconds < result.loop_seconds <= result.seconds  # the loop excludes the final chores
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    returns = events.Scalars("charts/episodic_return")  # one mean per log window (train.log_every=200)
    assert 3 <= len(returns) <= 1200 // 200 + 1 and all(point.value > 0 for point in returns)
    assert len(events.Scalars("charts/episodic_length")) == len(returns)
    again = resume(run_dir, ["train.total_steps=1600"], progress=False)
    assert again.steps >= 1600 and again.updates > result.updates
    assert load_agent(again.checkpoint).act(np.zeros(4, np.float32)) in (0, 1)


def test_missing_ray_is_one_clear_error(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from rlkit.cli import main\n"
            f"sys.exit(main(['train', '{APEX}', 'run_dir={tmp_path / 'run'}', 'train.total_steps=100']))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert completed.returncode == 2
    assert "pip install 'rlkit[distributed]'" in completed.stderr and completed.stderr.count("\n") == 1
    assert "ray" not in subprocess.run([sys.executable, "-c", "import rlkit, rlkit.distributed, sys; "
                                        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"],
                                       capture_output=True, text=True, cwd=ROOT).stdout.replace("[]", "")


def test_ray_actor_killed_mid_run_is_restarted(tmp_path):
    ray = pytest.importorskip("ray")
    run_dir = tmp_path / "run"
    config = load_config(APEX, [*SMALL, "train.total_steps=4000", "distributed.num_actors=2",
                                "distributed.num_cpus=2", f"run_dir={run_dir}"])
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("result", train(config, progress=False)))
    worker.start()
    deadline = time.time() + 300  # generous: Ray runs its workers niced, so a busy machine starts them slowly
    while not (run_dir / "checkpoints" / "latest.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    victim = ray.get_actor("rlkit-actor-1", namespace="rlkit")
    ray.kill(victim, no_restart=False)  # the process dies; Ray starts a new one
    worker.join(timeout=600)
    assert not worker.is_alive() and "result" in outcome
    assert outcome["result"].steps >= 4000
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    assert events.Scalars("distributed/actor_restarts")[-1].value >= 1


def test_restarted_actor_cuts_its_shard_before_the_new_episode(tmp_path):
    """A crash resets the actor's envs: the last pre-crash transition's n-step window must stop at the crash
    (n = 3, gamma = 0.5: return 1.0 and discount 0.5, not 1.75 bootstrapped from the restarted env)."""
    from collections import deque

    from rlkit.distributed.apex import ApexDriver
    from rlkit.distributed.roles import Chunk

    config = load_config(APEX, [*SMALL, "distributed.mode=local", "distributed.num_actors=1", "env.num_envs=1",
                                "agent.n_step=3", "agent.gamma=0.5", f"run_dir={tmp_path / 'run'}"])
    trainer = ApexDriver(resolve_preset(config), tmp_path / "run", progress=False)

    def chunk(first_obs):
        obs = np.arange(first_obs, first_obs + 3, dtype=np.float32)[:, None, None].repeat(4, axis=2)
        false = np.zeros((2, 1), bool)
        return Chunk(obs[:2], np.zeros((2, 1), np.int64), np.ones((2, 1), np.float32), obs[1:], false, false,
                     np.ones((2, 1), np.float32))

    trainer.replay.add_chunk(0, chunk(0.0))  # steps 0, 1 before the crash; the episode is still open
    trainer._actor_restarted(0, {0: deque()})
    trainer.replay.add_chunk(0, chunk(100.0))  # the restarted actor's new episode
    batch = trainer.replay.shards[0].gather(np.array([1]))
    assert batch.returns.tolist() == [1.0] and batch.discounts.tolist() == [0.5]
    assert batch.next_obs[0].tolist() == [2.0] * 4  # bootstraps from the pre-crash state, not the new episode's
    trainer.close()


def test_saving_the_sharded_replay_is_refused_not_ignored():
    from rlkit.errors import ConfigError

    with pytest.raises(ConfigError, match="save_with_checkpoint is not supported with distributed"):
        load_config(APEX, ["replay.save_with_checkpoint=true"])


def test_an_actor_death_seen_only_while_draining_is_counted():
    # A run can reach its last step between an actor's death and the driver's next wait on it: the death then
    # surfaces only in the final drain and went uncounted (distributed/actor_restarts stayed 0).
    from types import SimpleNamespace

    from rlkit.distributed.apex import ApexDriver

    class ActorDied(Exception):
        pass

    failed = object()
    fake_ray = SimpleNamespace(
        exceptions=SimpleNamespace(RayActorError=ActorDied, ActorUnavailableError=ActorDied),
        wait=lambda refs, num_returns, timeout: (refs, []),
        get=lambda ref: (_ for _ in ()).throw(ActorDied()) if ref is failed else ref)
    driver = SimpleNamespace(_ray=fake_ray, actor_restarts=2)
    queues = {0: deque(["chunk", "chunk"]), 1: deque([failed, failed])}  # actor 1 died: both its chunks fail
    ApexDriver._drain(driver, queues)
    assert driver.actor_restarts == 3  # one death, counted once
