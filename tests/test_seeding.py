"""Training, evaluation and actor env seeds never overlap (they used to at step 1,000,000 and above 1,000 envs)."""

import numpy as np

from rlkit.seeding import actor_seed, eval_seed, train_env_seed


def _run(base, count):
    return set(range(base, base + count))


def test_training_seeds_after_a_resume_never_meet_evaluation_seeds():
    evaluation = _run(eval_seed(0), 100)
    for step in range(1_000_000 - 64, 1_000_000 + 64):  # seed + step met seed + 1_000_000 here
        assert not _run(train_env_seed(0, step), 16) & evaluation
    assert train_env_seed(0, 500) == train_env_seed(0, 500) != train_env_seed(0, 501)
    assert train_env_seed(1, 0) != train_env_seed(0, 0)


def test_actor_seeds_do_not_overlap_with_many_envs():
    runs = [_run(actor_seed(3, index), 2000) for index in range(4)]  # seed + 1000 * (i + 1) overlapped here
    assert all(not runs[i] & runs[j] for i in range(4) for j in range(i + 1, 4))
    assert all(max(run) < 2**31 for run in runs)


def test_seeds_are_valid_env_seeds():
    seeds = np.array([train_env_seed(s, t) for s in (0, 7, 2**40) for t in (0, 10**9)])
    assert (seeds >= 0).all() and (seeds + 2**20 <= 2**31).all()
