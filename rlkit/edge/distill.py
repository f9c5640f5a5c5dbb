"""Policy distillation (Rusu et al., 2016): a small (or quantised) student Q-network trained on a teacher's outputs.

    student = distill(teacher_agent, student_config, observations, epochs=20)
    save_agent_checkpoint(student, student_config, "student.pt")      # rlkit.agents.common
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlkit.agents.registry import build_agent
from rlkit.config import Config


def distill(
    teacher: Any,
    student_config: Config,
    observations: np.ndarray,
    epochs: int = 30,
    loss: str = "mse",
    temperature: float = 1.0,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> Any:
    """Policy distillation (Rusu et al., 2016): train a (small) student Q-network on the teacher's outputs.

    teacher: a DQN-family agent; student_config: the student's full Config (its ``agent`` section picks the network,
    e.g. ``agent.net.hidden=[16]``, and may set ``agent.net.quant``); observations: (N, *obs_shape), states from the
    teacher's rollouts or replay. ``loss``: 'mse' regresses the student's Q-values onto the teacher's; 'kl' matches
    the softmax policies softmax(Q / temperature) (KL(teacher || student) * temperature^2, Hinton et al., 2015).
    Returns the student agent (its target network a copy of its online network).
    """
    if loss not in ("mse", "kl"):
        raise ValueError(f"distillation loss must be 'mse' or 'kl', got '{loss}'")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    observations = np.asarray(observations)
    if observations.shape[1:] != teacher.obs_shape or len(observations) == 0:
        raise ValueError(f"observations must be (N, {', '.join(map(str, teacher.obs_shape))}) with N >= 1, "
                         f"got {observations.shape}")
    student = build_agent(student_config, teacher.obs_shape, teacher.obs_dtype, teacher.num_actions, teacher.device)
    # clone(): q_values returns inference-mode tensors, which autograd may not save for backward.
    chunks = np.array_split(observations, max(1, len(observations) // 4096))
    teacher_q = torch.cat([teacher.q_values(chunk) for chunk in chunks]).clone()
    obs = torch.as_tensor(observations, device=student.device)
    optimizer = torch.optim.Adam(student.online.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(obs), generator=generator).to(student.device)
        for start in range(0, len(obs), batch_size):
            index = order[start:start + batch_size]
            student_q = student.critic.q_values(student.online(obs[index]))
            target = teacher_q[index]
            if loss == "mse":
                value = F.mse_loss(student_q, target)
            else:
                value = F.kl_div(F.log_softmax(student_q / temperature, dim=1), F.log_softmax(target / temperature, dim=1),
                                 log_target=True, reduction="batchmean") * temperature ** 2
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
    student.target.load_state_dict(student.online.state_dict())
    return student
