"""Ape-X coordinator: N actors fill one prioritised replay; one learner samples, updates, writes priorities back and
publishes its weights every ``distributed.weight_period`` updates.

The learner and the replay live in this (driver) process with the run directory, TensorBoard and checkpoints,
exactly as in single-process training; the actors are ``ActorRole`` objects, wrapped by ``ray.remote`` in
``mode: ray`` (each in its own process, restarted by Ray when it dies) or called in turn in ``mode: local``.
The learner keeps the config's replay ratio (``gradient_steps`` updates per ``train_freq`` env steps), so a run
learns like its single-process twin while collection runs in parallel.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.config import Config, config_to_dict
from rlkit.errors import RlkitError, TrainingError
from rlkit.threads import apply_threads
from rlkit.training.loop import TrainResult, build_or_restore_agent, evaluate_greedily
from rlkit.training.chores import Chores, start_run
from rlkit.training.evaluate import make_eval_envs

from .roles import ActorRole, ShardedReplay

NAMESPACE = "rlkit"
# Requests queued per actor: while the driver ingests one chunk the actor is already collecting the next, instead
# of idling for a round trip through the driver.
CHUNKS_IN_FLIGHT = 2


def import_ray() -> Any:
    """The ray module, or one clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RlkitError("distributed training needs Ray: pip install 'rlkit[distributed]' (or set "
                         "distributed.mode=local to run the same roles in one process)") from None
    return ray


class ApexDriver:
    """The Ape-X driver: actors fill a sharded prioritised replay, this process learns; the run's chores (run
    directory, evaluation, checkpoints, TensorBoard, wrap-up) are a ``Chores`` it holds, as in the env loop."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None,
                 checkpoint: dict[str, Any] | None = None, restart: bool = False):
        self.config = cfg = config
        self.device = start_run(config)
        self.step = self.updates = self.episodes = 0
        self.chores = Chores(config, run_dir, progress, resumed=checkpoint is not None, restart=restart)
        self.run_dir = self.chores.run_dir
        self.eval_envs = make_eval_envs(config)
        self.eval_env = self.eval_envs[0]  # the spaces come from it
        self.obs_space = self.eval_env.rlkit_obs_space
        self.obs_shape, self.obs_dtype = self.obs_space.shape, self.obs_space.dtype
        self.num_actions = int(self.eval_env.action_space.n)
        self.agent = build_or_restore_agent(cfg, checkpoint, self.obs_shape, self.obs_dtype, self.num_actions,
                                            self.device, self.obs_space)
        self.num_actors = cfg.distributed.num_actors
        self.replay = ShardedReplay(cfg, self.num_actors, self.obs_shape, self.obs_dtype, self.num_actions,
                                    self.eval_env.rlkit_frame_stack)
        self.actor_restarts, self._weights_version, self.dead = 0, -1, set()
        self._ray, self._started_ray = None, False
        self.actors = self._start_actors()
        self.threads = apply_threads(cfg.threads, self.agent.online, 2 * cfg.replay.batch_size)
        if checkpoint is not None:
            self.actor_restarts = int(self.chores.restore(self, checkpoint).get("actor_restarts", 0))
        self.start_step = self.step
        self.chores.claim()
        self.recent_returns: deque[float] = deque(maxlen=20)

    def close(self) -> None:
        self.chores.release(self)

    def _start_actors(self) -> list[Any]:
        dist, config = self.config.distributed, config_to_dict(self.config)
        if dist.mode == "local":
            return [ActorRole(config, i, self.num_actors) for i in range(self.num_actors)]
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=dist.address, num_cpus=None if dist.address else dist.num_cpus, namespace=NAMESPACE,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._started_ray = True
        remote = ray.remote(num_cpus=1, max_restarts=dist.max_actor_restarts, max_task_retries=0)(ActorRole)
        actors = [remote.options(name=f"rlkit-actor-{i}", namespace=NAMESPACE).remote(config, i, self.num_actors)
                  for i in range(self.num_actors)]
        ray.get([actor.ready.remote() for actor in actors])  # envs built: a bad env id fails here, before training
        return actors

    # -- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Collect with the actors and learn until ``train.total_steps`` env steps; returns a TrainResult."""

        cfg, train_cfg, dist = self.config, self.config.train, self.config.distributed
        writer = self.chores.writer(self.step)
        warmup = max(cfg.replay.batch_size, train_cfg.learning_starts)
        ratio = train_cfg.gradient_steps / train_cfg.train_freq
        started = window_start = time.perf_counter()
        window_step, window_updates, loss_sum = self.step, 0, 0.0
        window_episodes: list[tuple[float, int]] = []  # (return, length) of the episodes since the last log write
        target_synced = None  # self.updates at the last target copy
        warmup_end, stopped_early, updates_at_start = None, False, self.updates
        self._publish()
        queues = {i: deque(self._collect(i) for _ in range(CHUNKS_IN_FLIGHT)) for i in range(self.num_actors)}
        try:
            while self.step < train_cfg.total_steps:
                index, chunk = self._next_chunk(queues)
                if chunk is None:
                    continue
                queues[index].append(self._collect(index))  # keep the actor busy while this chunk is ingested
                self.replay.add_chunk(index, chunk)
                previous, self.step = self.step, self.step + chunk.env_steps
                if chunk.episodes:
                    self.episodes += len(chunk.episodes)
                    self.recent_returns.extend(episode[0] for episode in chunk.episodes)
                    window_episodes += chunk.episodes
                if len(self.replay) >= warmup:
                    if warmup_end is None:
                        warmup_end = (self.step, time.perf_counter() - started)
                    self.replay.anneal(self.step / train_cfg.total_steps)
                    due = int((self.step - warmup_end[0]) * ratio) - (self.updates - updates_at_start)
                    for _ in range(max(due, 0)):
                        loss_sum += self._learn()
                        window_updates += 1
                        if self.updates % dist.weight_period == 0:
                            self._publish()
                if (self.step // cfg.agent.target_period != previous // cfg.agent.target_period
                        and self.updates != target_synced):
                    self.agent.update_target()  # skipped while nothing was learned since the last copy: a no-op
                    target_synced = self.updates
                if self.chores.crossed(previous, self.step, train_cfg.log_every):
                    now = time.perf_counter()
                    seconds = max(now - window_start, 1e-9)
                    writer.add_scalar("charts/steps_per_second", (self.step - window_step) / seconds, self.step)
                    writer.add_scalar("charts/updates_per_second", window_updates / seconds, self.step)
                    writer.add_scalar("distributed/actor_restarts", self.actor_restarts, self.step)
                    if window_updates:
                        writer.add_scalar("train/loss", loss_sum / window_updates, self.step)
                    if window_episodes:
                        # Means over the window: hundreds of CartPole episodes end each second, and a point per
                        # episode (or per chunk) cost the driver more CPU than ingesting the chunks did.
                        returns, lengths = zip(*window_episodes)
                        writer.add_scalar("charts/episodic_return", float(np.mean(returns)), self.step)
                        writer.add_scalar("charts/episodic_length", float(np.mean(lengths)), self.step)
                    window_start, window_step, window_updates, loss_sum = now, self.step, 0, 0.0
                    window_episodes = []
                if self.chores.tick(self, previous, writer):
                    stopped_early = True
                    break
        finally:
            loop_seconds = time.perf_counter() - started  # before the drain: chunks still in flight are never counted
            self._drain(queues)
        writer.add_scalar("distributed/actor_restarts", self.actor_restarts, self.step)
        final = self.chores.finish(self, writer)
        seconds = time.perf_counter() - started
        warm = warmup_end or (self.step, loop_seconds)
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, seconds, loop_seconds,
                           self.chores.eval_seconds, *warm, self.chores.last_eval[0], self.chores.last_eval[1], final,
                           stopped_early)

    def _learn(self) -> float:
        batch = self.replay.sample(self.config.replay.batch_size)
        metrics = self.agent.update(batch)
        loss = metrics["loss"].item()
        if not np.isfinite(loss):
            self.chores.diverged(self, loss)
        self.replay.update_priorities(batch.indices, metrics["td_errors"])
        self.updates += 1
        return loss

    # -- talking to the actors -------------------------------------------------------------------------------------
    def _collect(self, index: int) -> Any:
        actor = self.actors[index]
        if self._ray is None:
            return _Done(actor.collect(self.config.distributed.chunk_steps))
        return actor.collect.remote(self.config.distributed.chunk_steps)

    def _next_chunk(self, queues: dict[int, deque]) -> tuple[int, Any]:
        """The next finished chunk and its actor; (index, None) after an actor died (it is restarted).

        ``queues[i]`` holds actor i's requested chunks in the order it collects them. Only the oldest of each is
        waited on, so every shard receives its actor's steps in order (its n-step windows need them consecutive).
        """
        live = {queue[0]: index for index, queue in queues.items() if queue}
        if self._ray is None:
            ref = next(iter(live))
            index = live[ref]
            queues[index].popleft()
            return index, ref.value
        ray = self._ray
        ready, _ = ray.wait(list(live), num_returns=1)
        index = live[ready[0]]
        queues[index].popleft()
        try:
            return index, ray.get(ready[0])
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as error:
            self.actor_restarts += 1
            if not self._await_restart(index):
                self.dead.add(index)
                if len(self.dead) == self.num_actors:
                    raise TrainingError(f"every actor has died (last: actor {index}, {type(error).__name__}) and "
                                        "Ray will not restart them; the last good checkpoint is kept") from None
                return index, None
            self._actor_restarted(index, queues)
            return index, None

    def _actor_restarted(self, index: int, queues: dict[int, deque]) -> None:
        """Actor ``index`` is back from a crash with freshly reset envs: end its shard's open episodes, so no n-step
        window runs from the last pre-crash step into the new episode; send it the weights; request new chunks
        (those requested before the crash are lost with it)."""
        self.replay.end_episodes(index)
        self._send_weights(index)
        queues[index] = deque(self._collect(index) for _ in range(CHUNKS_IN_FLIGHT))

    def _await_restart(self, index: int, timeout: float = 120.0) -> bool:
        """Wait until Ray has restarted actor ``index`` (its constructor reran); False if it is gone for good."""
        ray, deadline = self._ray, time.time() + timeout
        while time.time() < deadline:
            try:
                return bool(ray.get(self.actors[index].ready.remote(), timeout=max(deadline - time.time(), 1)))
            except ray.exceptions.ActorUnavailableError:
                time.sleep(0.2)  # restarting: try again
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                return False
        return False

    def _publish(self) -> None:
        """Broadcast the learner's networks to every live actor (one object in Ray's store, shared by all)."""
        for index in range(self.num_actors):
            if index not in self.dead:
                self._send_weights(index)

    def _send_weights(self, index: int) -> None:
        actor = self.actors[index]
        if self._weights_version != self.updates:
            online = {k: v.detach().cpu() for k, v in self.agent.online.state_dict().items()}
            target = {k: v.detach().cpu() for k, v in self.agent.target.state_dict().items()}
            # In Ray mode the state dicts go to the object store once and every actor reads the same copy.
            self._weights = (online, target) if self._ray is None else (self._ray.put(online), self._ray.put(target))
            self._weights_version = self.updates
        if self._ray is None:
            actor.set_weights(*self._weights, self.updates)
        else:
            actor.set_weights.remote(*self._weights, self.updates)

    def _drain(self, queues: dict[int, deque]) -> None:
        """Wait (30 s at most) for the chunks still in flight, dropping them; an actor whose chunk failed died
        after the last one the loop took, and counts in ``actor_restarts`` like a death seen mid-run."""
        refs = [ref for queue in queues.values() for ref in queue]
        if self._ray is None or not refs:
            return
        ray = self._ray
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=30)
        ready = set(ready)
        died = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)
        for queue in queues.values():
            for ref in queue:
                if ref not in ready:
                    continue
                try:
                    ray.get(ref)
                except died:
                    self.actor_restarts += 1
                    break  # one death per actor, however many of its chunks it took down
                except Exception:  # noqa: BLE001 - the run is over: a chunk that failed otherwise is dropped too
                    continue

    # -- what the chores ask of a loop ------------------------------------------------------------------------------
    def evaluate_policy(self, writer: Any) -> tuple[float, float]:
        """The learner's greedy episodes on its own evaluation env, as in the env loop."""
        return evaluate_greedily(self.config, self.agent, self.eval_envs, writer, self.step)

    def progress_line(self) -> str:
        recent = float(np.mean(self.recent_returns)) if self.recent_returns else float("nan")
        mean, std = self.chores.last_eval
        return f"episodes {self.episodes:>6,}  recent return {recent:8.2f}  eval {mean:8.2f} ± {std:.2f}"

    def spaces(self) -> dict[str, Any]:
        return {"obs_shape": list(self.obs_shape), "obs_dtype": str(self.obs_dtype), "num_actions": self.num_actions,
                "env_id": self.config.env.id, "obs_space": self.obs_space.to_dict()}

    def loop_state(self) -> dict[str, Any]:
        return {"actor_restarts": self.actor_restarts}

    def close_resources(self) -> None:
        for env in self.eval_envs:
            env.close()
        if self._ray is None:
            for actor in self.actors:
                actor.close()
            return
        for actor in self.actors:
            self._ray.kill(actor)
        if self._started_ray:
            self._ray.shutdown()


class _Done:
    """A local-mode stand-in for a Ray object ref: the chunk is already there."""

    def __init__(self, value: Any):
        self.value = value

