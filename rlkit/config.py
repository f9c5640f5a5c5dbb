"""Typed experiment config: YAML presets, dotted ``key=value`` overrides, validation with clear errors.

A config is a tree of pydantic models. ``load_config("configs/cartpole_dqn.yaml", ["agent.lr=1e-3"])`` reads the
YAML file, applies the overrides, and validates the result; every problem becomes one ``ConfigError`` line that
names the field, e.g. ``unknown config key 'agent.lr_rate'; did you mean 'agent.lr'?``.

Which agent a name picks (and the flags a preset implies) is the agent registry's business, not this module's:
the machinery knows no agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rlkit.config_checks import check_keys, describe_validation_error
from rlkit.config_text import parse_override, read_yaml, set_dotted
from rlkit.errors import ConfigError


class _Section(BaseModel):
    # extra="forbid" turns a typo into an error instead of a silently ignored key.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AtariConfig(_Section):
    """Preprocessing of ale-py ids (``ALE/Pong-v5``); ignored for other envs."""

    native: bool = Field(True, description="ale-py's native vector env (C++ threads); false: Gymnasium wrappers")
    frame_skip: int = Field(4, ge=1, description="emulator frames per agent step (max-pooled over the last two)")
    frame_stack: int = Field(4, ge=1, description="frames stacked into one observation (zero-padded at reset)")
    noop_max: int = Field(30, ge=0, description="up to this many no-op actions at reset")
    fire_reset: bool = Field(True, description="press FIRE at reset in games that need it")
    episodic_life: bool = Field(False, description="end an episode at each life loss and restart the game (training "
                                "only; evaluation then presses FIRE at each new life, as every training episode began)")
    terminal_on_life_loss: bool = Field(False, description="a lost life is terminal for the learner and the game "
                                        "goes on (Dopamine's Atari 100k protocol; training only, native env only)")
    sticky_actions: float = Field(0.25, ge=0.0, le=1.0, description="repeat-action probability (v5 protocol)")
    clip_rewards: bool = Field(True, description="clip training rewards to their sign; scores stay raw")
    full_action_space: bool = Field(False, description="all 18 actions instead of the game's minimal set")
    max_episode_frames: int = Field(108_000, ge=1, description="truncate an episode after this many frames")

    @model_validator(mode="after")
    def _life_loss(self) -> "AtariConfig":
        if self.terminal_on_life_loss and self.episodic_life:
            raise ValueError("terminal_on_life_loss and episodic_life exclude each other: the first goes on with the "
                             "game after a lost life, the second restarts it; set one of them")
        if self.terminal_on_life_loss and not self.native:
            raise ValueError("terminal_on_life_loss needs ale-py's native env (env.atari.native: true): Gymnasium's "
                             "vector wrappers restart the game at every terminal step")
        return self


class EnvConfig(_Section):
    """Which environment to train on and how to vectorise it."""

    id: str = Field("CartPole-v1", description="Gymnasium id, or 'module:EnvId' to import a module that registers it")
    num_envs: int = Field(1, ge=1, description="parallel environments stepped together")
    vectorization: Literal["sync", "async"] = Field("sync", description="sync: one process; async: one per env")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to gymnasium.make")
    atari: AtariConfig = Field(default_factory=AtariConfig)
    action_mask: Literal["auto", "info", "obs", "none"] = Field(
        "auto", description="legal actions: info (info['action_mask']), obs (a Dict observation's action_mask key), "
                            "none, or auto (whichever the env has)")


class CriticConfig(_Section):
    """Value representation: how network outputs become Q-values and how the TD loss is computed.

    ``scalar`` regresses Q with ``loss``; ``hl_gauss``, ``two_hot`` and ``c51`` are histograms over ``bins`` atoms on
    [``v_min``, ``v_max``] trained with cross-entropy (Farebrother et al., 2024; Bellemare et al., 2017); ``qr`` is
    QR-DQN's ``quantiles`` return quantiles trained with the quantile Huber loss (Dabney et al., 2018a); ``iqn`` is
    IQN's network of the quantile fraction, sampled ``tau_samples`` / ``tau_prime_samples`` / ``act_samples`` times
    (N, N', K) for the online outputs, the target and acting (Dabney et al., 2018b).
    """

    type: Literal["scalar", "hl_gauss", "two_hot", "c51", "qr", "iqn"] = Field("scalar", description="value representation")
    loss: Literal["huber", "mse"] = Field("huber", description="regression loss of the scalar critic (histogram critics "
                                                     "always use cross-entropy)")
    bins: int = Field(51, ge=2, le=10_000, description="histogram bins (atoms) of a distributional critic")
    v_min: float = Field(-10.0, description="lowest return the histogram represents")
    v_max: float = Field(10.0, description="highest return the histogram represents")
    sigma_ratio: float = Field(0.75, gt=0.0, le=10.0, description="HL-Gauss sigma as a multiple of the bin width")
    quantiles: int = Field(200, ge=1, le=10_000, description="quantile estimates per action of the qr critic (QR-DQN)")
    kappa: float = Field(1.0, gt=0.0, description="quantile Huber threshold of the qr and iqn critics")
    tau_samples: int = Field(64, ge=1, le=1024, description="iqn: fractions N sampled for the online outputs")
    tau_prime_samples: int = Field(64, ge=1, le=1024, description="iqn: fractions N' sampled for the target")
    act_samples: int = Field(32, ge=1, le=1024, description="iqn: fractions K for acting (sampled while exploring, "
                                                            "fixed midpoints for greedy evaluation and export)")
    embedding_dim: int = Field(64, ge=1, le=4096, description="iqn: cosine features of the fraction embedding")

    @model_validator(mode="after")
    def _range(self) -> "CriticConfig":
        if self.v_min >= self.v_max:
            raise ValueError(f"v_min ({self.v_min}) must be below v_max ({self.v_max})")
        return self


class InputConfig(_Section):
    """How one key of a Dict observation is encoded (``agent.net.inputs.KEY``)."""

    torso: Literal["auto", "flatten", "mlp", "nature_cnn", "impala", "der_cnn", "small_cnn"] = Field(
        "auto", description="auto: a CNN for uint8 images (nature_cnn from 36x36, small_cnn below), flatten (one-hot "
                            "for Discrete) otherwise; mlp: the key gets an MLP of agent.net.hidden of its own")
    scale: Optional[float] = Field(None, gt=0.0, description="multiplies the key's values before its encoder "
                                                             "(default: 1/255 for uint8 images, 1 otherwise)")


class NetConfig(_Section):
    """Q-network architecture: a torso and a head."""

    torso: Literal["mlp", "nature_cnn", "impala", "resmlp", "der_cnn", "auto"] = Field(
        "mlp", description="feature extractor (der_cnn: data-efficient Rainbow's small CNN; auto: one encoder per "
                           "observation key, see agent.net.inputs; Dict, Tuple and Discrete observations use it "
                           "whatever this says)")
    inputs: dict[str, InputConfig] = Field(
        default_factory=dict, description="per-key encoders of a Dict observation: {key: {torso, scale}}")
    hidden: list[int] = Field(default_factory=lambda: [256, 256], description="MLP layer widths")
    blocks: int = Field(4, ge=0, le=64, description="residual blocks of the resmlp torso (width hidden[-1])")
    quant: Literal["none", "int8", "ternary"] = Field(
        "none", description="quantisation-aware training of the linear layers: int8 fake-quant or ternary b1.58")
    ternary_scale: Literal["absmean", "absmedian"] = Field("absmean", description="weight scale of ternary layers")
    norm: Literal["none", "layer"] = Field("none", description="layer: LayerNorm before each ReLU of the mlp torso "
                                                           "(PQN's network; the pqn agent's default)")
    noisy: bool = Field(False, description="noisy nets: factorised Gaussian NoisyLinear layers in the head")
    sigma0: float = Field(0.5, gt=0.0, le=10.0, description="initial noise scale of the noisy head (sigma0/sqrt(in))")
    keep_fp32: list[Literal["first", "head"]] = Field(
        default_factory=list, description="layers a quantised network keeps in fp32: first (the torso's input "
                                          "layer) and/or head")

    @model_validator(mode="after")
    def _positive_widths(self) -> "NetConfig":
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise ValueError(f"hidden widths must be >= 1, got {self.hidden}")
        return self


class MunchausenConfig(_Section):
    """Munchausen DQN (Vieillard et al., 2020): the scaled, clipped log-policy bonus and a soft target value."""

    alpha: float = Field(0.9, ge=0.0, le=1.0, description="weight of the log-policy bonus")
    tau: float = Field(0.03, gt=0.0, description="entropy temperature of the softmax policy")
    clip: float = Field(-1.0, le=0.0, description="lower clip of tau * log pi (the bonus is at most 0)")


class AgentConfig(_Section):
    """The learning agent. ``name`` picks a registry preset (dqn, double_dqn, dueling_dqn, double_dueling_dqn)."""

    name: str = Field("dqn", description="agent preset from the registry")
    # None until resolved: "what agent.name implies" (false for plain dqn). A dumped unresolved config then reads
    # back as unresolved, not as an explicit false that contradicts its preset.
    double: Optional[bool] = Field(None, description="Double DQN: online net picks the next action, target net "
                                                     "scores it (default: as agent.name implies)")
    dueling: Optional[bool] = Field(None, description="dueling head: V(s) + A(s, a) - mean_a A(s, a) (default: as "
                                                      "agent.name implies)")
    n_step: int = Field(1, ge=1, le=100, description="steps summed in the TD target")
    gamma: float = Field(0.99, ge=0.0, le=1.0, description="discount factor")
    lr: float = Field(1e-4, gt=0.0, le=1.0, description="Adam learning rate")
    adam_eps: float = Field(1e-8, gt=0.0, description="Adam epsilon")
    max_grad_norm: Optional[float] = Field(10.0, gt=0.0, description="clip the gradient norm; null disables")
    target_period: int = Field(1000, ge=1, description="env steps between target-network updates")
    tau: float = Field(1.0, gt=0.0, le=1.0, description="target <- tau*online + (1-tau)*target; 1.0 is a hard copy")
    critic: CriticConfig = Field(default_factory=CriticConfig)
    net: NetConfig = Field(default_factory=NetConfig)
    munchausen: Optional[MunchausenConfig] = Field(
        None, description="Munchausen target (M-DQN; M-QR-DQN / M-IQN with critic.type qr / iqn); null: the plain one")
    compile: Literal["auto", "on", "off", "fused", "inductor", "cuda_graph"] = Field(
        "auto", description="how the DQN update runs: fused (the update of a plain MLP with the scalar critic "
        "written out as its kernels), inductor (torch.compile), cuda_graph (the update captured in a CUDA graph), "
        "off (eager autograd), on (cuda_graph on a GPU, fused on a CPU, where the agent allows them, else "
        "inductor), auto (fused on a CPU where allowed, else eager; scripts/bench_update.py measures them)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16: the networks' forwards and backward in bfloat16 under autocast (fp32 weights, "
        "optimiser and loss); auto: bf16 for the CNN torsos on a device with bf16 hardware (AVX512-BF16/AMX CPUs, "
        "CUDA), fp32 elsewhere")
    init_from: Optional[str] = Field(None, description="checkpoint whose network weights a new run starts from "
                                     "(fine-tuning, e.g. ternary QAT of a trained fp32 agent); optimiser and counters "
                                     "start fresh, and a resumed run ignores it")

    @field_validator("compile", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare on/off as a boolean
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _munchausen_needs_a_scalar_or_quantile_critic(self) -> "AgentConfig":
        if self.munchausen is not None and self.critic.type not in ("scalar", "qr", "iqn"):
            raise ValueError(f"agent.munchausen works with the scalar, qr and iqn critics (M-DQN, M-QR-DQN, M-IQN), "
                             f"got critic.type={self.critic.type}; set agent.critic.type to one of those")
        if self.critic.type == "iqn" and self.net.quant != "none":
            raise ValueError("agent.net.quant (quantisation-aware training) does not support critic.type=iqn; train "
                             "IQN in fp32 and quantise its export with rlkit export --quantize int8")
        if self.munchausen is not None and self.double:
            raise ValueError("agent.munchausen replaces Double DQN's max with a soft value, so agent.double does "
                             "nothing with it; use agent.name=dqn (or dueling_dqn)")
        return self


class ReplayConfig(_Section):
    """Experience replay."""

    capacity: int = Field(100_000, ge=1, description="transitions kept (all envs together)")
    batch_size: int = Field(32, ge=1, description="transitions per gradient step")
    save_with_checkpoint: bool = Field(False, description="write the buffer beside each checkpoint (replay.npz)")
    storage: Literal["auto", "full", "frames"] = Field(
        "auto", description="frames: store each frame of stacked uint8 images once (auto: where the env stacks)")
    prioritized: bool = Field(False, description="prioritised replay (Schaul et al., 2016) with a sum tree")
    alpha: float = Field(0.6, ge=0.0, le=1.0, description="priority exponent: P(i) ~ p_i^alpha")
    beta: float = Field(0.4, ge=0.0, le=1.0, description="initial importance-weight exponent, annealed to 1")
    priority_eps: float = Field(1e-6, gt=0.0, description="added to |TD error| so no transition has priority 0")


class ExplorationConfig(_Section):
    """Linear epsilon-greedy schedule: ``start`` to ``end`` over ``fraction`` of ``train.total_steps``, counted from
    step 0; before ``train.learning_starts`` the trainer acts uniformly at random whatever the schedule says."""

    start: float = Field(1.0, ge=0.0, le=1.0)
    end: float = Field(0.05, ge=0.0, le=1.0)
    fraction: float = Field(0.1, gt=0.0, le=1.0)
    eval_epsilon: float = Field(0.0, ge=0.0, le=1.0, description="epsilon during greedy evaluation")

    @model_validator(mode="after")
    def _decreasing(self) -> "ExplorationConfig":
        if self.end > self.start:
            raise ValueError(f"end ({self.end}) must not exceed start ({self.start})")
        return self


class TrainConfig(_Section):
    """The training loop's budget and schedule; every period is counted in env steps (all envs together)."""

    total_steps: int = Field(100_000, ge=1, description="env steps to train for")
    learning_starts: int = Field(1_000, ge=0, description="env steps of random-policy data before updates start")
    train_freq: int = Field(4, ge=1, description="env steps between training phases")
    gradient_steps: int = Field(1, ge=1, description="gradient updates per training phase")
    eval_every: int = Field(10_000, ge=0, description="env steps between greedy evaluations; 0 disables")
    eval_episodes: int = Field(10, ge=1, description="episodes per greedy evaluation")
    eval_envs: int = Field(1, ge=1, description="env copies playing an evaluation's episodes side by side (batched "
                                                "greedy actions; the same returns)")
    checkpoint_every: int = Field(10_000, ge=0, description="env steps between checkpoints; 0: only the final one")
    target_return: Optional[float] = Field(None, description="stop early once a greedy evaluation reaches this mean")
    log_every: int = Field(1_000, ge=1, description="env steps between TensorBoard scalar writes")


class PuzzleConfig(_Section):
    """Cost-to-go training on a search puzzle instead of an env (used by the ``qstar`` agent).

    With ``name`` set, every period in ``train`` counts gradient updates, each on ``batch_size`` states drawn by
    backward random walks of 0..``max_scramble`` moves from the goal.
    """

    name: Optional[Literal["sliding_tile", "cube3", "lights_out"]] = Field(None, description="puzzle to learn")
    size: int = Field(4, ge=2, le=10, description="side of the board: 3, 4, 5 give the 8-, 15-, 24-puzzle")
    meta_actions: bool = Field(False, description="cube3: add all sequences of 2 and 3 quarter turns (1872 actions)")
    max_scramble: int = Field(30, ge=1, description="longest backward walk used to draw training states (K)")
    batch_size: int = Field(1000, ge=1, description="states per gradient update")
    target_actions: Optional[int] = Field(None, ge=1, description="actions per state trained in each update, drawn "
                                          "at random (null: all); large action sets (meta-actions) need it")
    target_from: Optional[str] = Field(None, description="Q* checkpoint of the same puzzle (any action set) whose "
                                       "cost-to-go min_a Q bootstraps the targets instead of this agent's own target "
                                       "network, e.g. a quarter-turn cube network for the meta-action one")
    targets: Literal["bellman", "walk", "mixed"] = Field(
        "bellman", description="bellman: c(s, a) + min_a' Q_target(s', a') on every update (A + 1 forwards per "
        "state); walk: supervised bounds from the walk that made each state, no child evaluations (1 forward); "
        "mixed: walk updates with a Bellman update every bellman_every-th, its target capped by the walk bound")
    bellman_every: int = Field(10, ge=1, description="mixed: every this many updates one is a Bellman update")
    bellman_batch_size: Optional[int] = Field(None, ge=1, description="mixed: states per Bellman update (null: "
                                              "batch_size); a Bellman state costs A + 1 forwards, a walk state 1")
    non_backtracking: bool = Field(True, description="walk / mixed: training walks never undo their previous move, "
                                   "so a walk's length bounds its state's distance more tightly")
    eval_depths: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16], description="scramble depths whose "
                                   "greedy solve rate is logged at each evaluation")
    eval_states: int = Field(100, ge=1, description="states per depth in each evaluation")


class PQNConfig(_Section):
    """PQN's phases (Gallici et al., 2025; used by ``agent.name: pqn``): collect ``rollout_steps`` steps of every env
    with the current network, compute lambda-returns, then ``epochs`` passes over the rollout in ``minibatches``
    minibatches. No replay, no target network."""

    rollout_steps: int = Field(64, ge=1, le=100_000, description="steps of each env collected per phase (T)")
    lam: float = Field(0.95, ge=0.0, le=1.0, description="lambda of the Q(lambda) returns (0: 1-step, 1: Monte Carlo)")
    epochs: int = Field(4, ge=1, le=1_000, description="passes over each rollout")
    minibatches: int = Field(16, ge=1, le=100_000, description="minibatches per pass (each of T x num_envs / this)")
    lr_decay: bool = Field(True, description="decay agent.lr linearly to 0 over train.total_steps")
    reward_scale: float = Field(1.0, gt=0.0, description="training rewards are multiplied by this (scores stay raw)")


class DistributedConfig(_Section):
    """Ape-X style training (Horgan et al., 2018): actors with their own epsilons fill one prioritised replay."""

    num_actors: int = Field(0, ge=0, description="actors collecting experience; 0 trains in a single process")
    mode: Literal["ray", "local"] = Field("ray", description="ray: actors are Ray actors; local: same roles in "
                                                            "this process, stepped in turn (no Ray needed)")
    address: Optional[str] = Field(None, description="Ray cluster to join: 'auto' or HOST:PORT; null starts a "
                                                     "local one")
    num_cpus: Optional[int] = Field(None, ge=1, description="CPUs of the local Ray cluster (default: all)")
    chunk_steps: int = Field(64, ge=1, description="vector-env steps an actor collects per chunk it ships")
    weight_period: int = Field(100, ge=1, description="learner updates between weight broadcasts to actors")
    max_actor_restarts: int = Field(3, ge=0, description="times Ray restarts a crashed actor")
    eps_base: float = Field(0.4, gt=0.0, lt=1.0, description="actor i explores with eps_base^(1 + eps_alpha*i/(N-1))")
    eps_alpha: float = Field(7.0, ge=0.0, description="spread of the actors' epsilons")


class Config(_Section):
    """A whole experiment."""

    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds torch, numpy, the replay buffer and the envs "
                                                          "(0 to 2^32 - 1, what numpy's global seed takes)")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'")
    run_dir: Optional[str] = Field(None, description="where logs and checkpoints go; default runs/<config name>")
    threads: Union[int, str] = Field(
        "auto", description="torch intra-op CPU threads: auto (one for small networks, else the free cores: "
                            "rlkit/threads.py), N, or 0 for torch's default (one per core)")
    allocator: Literal["retain", "system"] = Field(
        "retain", description="retain: glibc keeps freed blocks up to 32 MiB for reuse, so each update's large "
                              "tensors do not fault in fresh pages (rlkit/allocator.py; process-wide, from the "
                              "run's start); system: the C allocator's defaults")
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    puzzle: PuzzleConfig = Field(default_factory=PuzzleConfig)
    pqn: PQNConfig = Field(default_factory=PQNConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> int | str:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise ValueError(f"threads must be 'auto' or an integer >= 0, got {value!r}")

    @model_validator(mode="after")
    def _compatible(self) -> "Config":
        if self.replay.capacity < self.replay.batch_size:
            raise ValueError(
                f"replay.capacity ({self.replay.capacity}) is smaller than replay.batch_size ({self.replay.batch_size})"
            )
        if self.replay.capacity < self.env.num_envs:
            raise ValueError(f"replay.capacity ({self.replay.capacity}) must hold one step of env.num_envs envs")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got '{self.device}'")
        if self.distributed.num_actors > 0 and self.replay.save_with_checkpoint:
            raise ValueError("replay.save_with_checkpoint is not supported with distributed.num_actors > 0 (the "
                             "sharded Ape-X replay is not saved; a resumed run refills it); set "
                             "replay.save_with_checkpoint=false")
        return self


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML preset (or start from defaults when ``path`` is None), apply ``key=value`` overrides, validate.

    Raises ConfigError with one line naming the file or field at fault.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_yaml(Path(path))
    for override in overrides:
        key, value = parse_override(override)
        set_dotted(raw, key, value)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Validate a nested dict (as read from YAML or stored in a checkpoint) into a Config."""
    check_keys(raw, Config)
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict of builtins (what YAML and checkpoints store)."""
    return config.model_dump(mode="json")


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (the run directory's ``config.yaml``)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Return a new Config with dotted overrides applied to an existing one (used by ``--resume``)."""
    raw = config_to_dict(config)
    for override in overrides:
        key, value = parse_override(override)
        set_dotted(raw, key, value)
    return config_from_dict(raw)
