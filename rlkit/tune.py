"""Hyperparameter search on Optuna: one study per tuning job, in a real database, each trial a normal run.

    rlkit tune configs/cartpole_dqn.yaml train.total_steps=20000 --trials 30 --space space.yaml

- **Search space** (YAML, ``--space``): dotted config fields to distributions, checked like config overrides
  (an unknown field is the same one-line error, with its did-you-mean)::

      agent.lr: {loguniform: [1.0e-5, 1.0e-2]}
      agent.n_step: {int: [1, 10]}              # {int: [low, high, step]} too; {logint: [low, high]} on a log scale
      exploration.fraction: {uniform: [0.05, 0.5]}
      agent.critic.type: {categorical: [scalar, hl_gauss]}

  A file may instead hold sections: ``space:`` (the above), ``pruner: {startup_trials, warmup_steps}`` and
  ``sampler: {startup_trials}``. Without ``--space``, DEFAULT_SPACE is searched.
- **Study**: Optuna's TPE sampler (seeded with the config's seed) and median pruner, fed the run's periodic greedy
  evaluations (``train.eval_every``), maximising the final greedy return. The study lives in ``--storage``: by
  default an SQLite file ``OUT/study.db``, so a killed tuner resumes where it stopped (``--trials N`` means N
  finished trials in all, counting those of earlier invocations); any SQLAlchemy URL (PostgreSQL, MySQL) lets
  several machines work on one study through Optuna's own storage, with heartbeats that fail the trials of a
  machine that died. ``--jobs K`` runs K trials at a time in this process.
- **Outputs** in ``OUT`` (default ``runs/tune/STUDY``): ``trial-NNNN/`` run directories (checkpoints, TensorBoard),
  ``best.yaml`` (the best trial's whole config, a ready preset), ``trials.csv`` and ``importance.png`` (Optuna's
  parameter importances; needs matplotlib and two finished trials).

This module is the ``tune`` floor: it starts runs through the ``train`` function it is handed (``rlkit.run.train``
from the CLI), so it never imports the layer above it.
"""

from __future__ import annotations

import csv
import inspect
import warnings
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from rlkit.config import Config, config_from_dict, save_config
from rlkit.config_text import parse_override, read_yaml, set_dotted
from rlkit.errors import ConfigError, RlkitError, did_you_mean

DISTRIBUTIONS = ("loguniform", "uniform", "int", "logint", "categorical")
DEFAULT_SPACE: dict[str, Any] = {
    "agent.lr": {"loguniform": [1e-5, 3e-3]},
    "agent.n_step": {"int": [1, 5]},
    "agent.target_period": {"logint": [10, 2000]},
    "exploration.fraction": {"uniform": [0.05, 0.5]},
}
HEARTBEAT_SECONDS = 30  # a trial whose process stops beating for twice this long is failed (Optuna's heartbeat)


@dataclass
class Param:
    """One searched field: ``kind`` from DISTRIBUTIONS and its arguments."""

    field: str
    kind: str
    args: list[Any]

    def suggest(self, trial: Any) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.field, self.args)
        if self.kind in ("int", "logint"):
            step = int(self.args[2]) if len(self.args) > 2 else 1
            return trial.suggest_int(self.field, int(self.args[0]), int(self.args[1]), step=step,
                                     log=self.kind == "logint")
        return trial.suggest_float(self.field, float(self.args[0]), float(self.args[1]),
                                   log=self.kind == "loguniform")


@dataclass
class StudyReport:
    """What a tuning job leaves: the study's name and storage, its finished trials, the best one."""

    study: str
    storage: str
    out_dir: Path
    finished: int
    pruned: int
    best_value: float
    best_params: dict[str, Any]
    best_config: Path
    table: str


def tune(config_path: str | Path, overrides: list[str] | tuple[str, ...], trials: int,
         train: Callable[..., Any], study: str | None = None, storage: str | None = None,
         space_file: str | Path | None = None, jobs: int = 1, out_dir: str | Path | None = None) -> StudyReport:
    """Run (or continue) an Optuna study over ``config_path`` with ``overrides`` applied to every trial until it
    holds ``trials`` finished (complete or pruned) trials. ``train(config, run_dir, progress, observer)`` trains
    one run (``rlkit.run.train``). Raises ConfigError for a bad space or config, RlkitError without optuna."""
    optuna = _optuna()
    if trials < 1 or jobs < 1:
        raise RlkitError(f"--trials and --jobs must be >= 1, got {trials} and {jobs}")
    base = _base_raw(config_path, overrides)
    params, pruner_cfg, sampler_cfg = read_space(space_file)
    first = _check_values(base, params)
    name = study or Path(config_path).stem
    out = Path(out_dir or Path("runs") / "tune" / name)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    # a trial whose process died (killed tuner, lost machine) is failed after its heartbeat stops, and retried
    stale = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in
             inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback")
    try:
        with warnings.catch_warnings():  # Optuna marks heartbeats "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or \
                optuna.storages.RetryFailedTrialCallback  # Optuna < 4.9's name
            retry = retry_class(3)
            rdb = optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, **{stale: retry})
    except Exception as error:  # noqa: BLE001 (SQLAlchemy's errors are many; all mean a bad URL or database)
        raise RlkitError(f"cannot open study storage '{url}' ({str(error).splitlines()[0][:120]}); give "
                         "--storage a SQLAlchemy URL such as sqlite:///study.db or postgresql://host/db") from None
    sampler = optuna.samplers.TPESampler(seed=first.seed, n_startup_trials=int(sampler_cfg.get("startup_trials", 10)))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=int(pruner_cfg.get("startup_trials", 5)),
                                         n_warmup_steps=int(pruner_cfg.get("warmup_steps", 0)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    the_study = optuna.create_study(study_name=name, storage=rdb, sampler=sampler, pruner=pruner,
                                    direction="maximize", load_if_exists=True)
    remaining = trials - _finished(the_study)

    def objective(trial: Any) -> float:
        values = {p.field: p.suggest(trial) for p in params}
        config = _config_with(base, values)
        run_dir = out / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        result = train(config, run_dir, progress=False, observer=_Reporter(trial, optuna))
        return float(result.eval_mean)

    if remaining > 0:
        the_study.optimize(objective, n_trials=remaining, n_jobs=jobs, catch=(), gc_after_trial=True)
    return _report(the_study, base, out, url, optuna)


def read_space(path: str | Path | None) -> tuple[list[Param], dict[str, Any], dict[str, Any]]:
    """The searched fields of a space file (DEFAULT_SPACE without one), and its pruner and sampler sections."""
    raw: Any = DEFAULT_SPACE if path is None else _read_space_yaml(Path(path))
    where = "the default search space" if path is None else f"search space '{path}'"
    pruner, sampler = {}, {}
    if isinstance(raw, dict) and "space" in raw:
        unknown = sorted(set(raw) - {"space", "pruner", "sampler"})
        if unknown:
            raise ConfigError(f"{where}: unknown section '{unknown[0]}'; use space, pruner and sampler")
        pruner, sampler = _section(raw, "pruner", ("startup_trials", "warmup_steps"), where), \
            _section(raw, "sampler", ("startup_trials",), where)
        raw = raw["space"]
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where} must map dotted config fields to distributions, e.g. "
                          "agent.lr: {loguniform: [1.0e-5, 1.0e-2]}")
    params = []
    for field, spec in raw.items():
        label = f"{where}, field '{field}'"
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ConfigError(f"{label}: give one distribution, e.g. {{loguniform: [1.0e-5, 1.0e-2]}}, got {spec!r}")
        kind, args = next(iter(spec.items()))
        if kind not in DISTRIBUTIONS:
            guess = did_you_mean(str(kind), DISTRIBUTIONS, cutoff=0.6)
            hint = f"did you mean '{guess}'?" if guess else f"use one of {', '.join(DISTRIBUTIONS)}"
            raise ConfigError(f"{label}: unknown distribution '{kind}'; {hint}")
        params.append(Param(str(field), kind, _checked_args(label, kind, args)))
    return params, pruner, sampler


class _Reporter:
    """The run's evaluation observer: report each greedy evaluation to the trial; prune when Optuna says so."""

    def __init__(self, trial: Any, optuna: Any):
        self.trial, self.optuna, self.last_step = trial, optuna, -1

    def __call__(self, step: int, mean: float) -> None:
        if step <= self.last_step:  # the final evaluation can repeat the last periodic one's step
            return
        self.last_step = step
        self.trial.report(mean, step)
        if self.trial.should_prune():
            raise self.optuna.TrialPruned(f"pruned at step {step} (greedy return {mean:.2f})")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RlkitError("rlkit tune needs Optuna: pip install 'rlkit[tune]'") from None
    return optuna


def _base_raw(config_path: str | Path, overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The preset with the command line's overrides, as a nested dict (validated once here)."""
    raw = read_yaml(Path(config_path))
    for override in overrides:
        key, value = parse_override(override)
        set_dotted(raw, key, value)
    config_from_dict(raw)
    return raw


def _config_with(base: dict[str, Any], values: dict[str, Any]) -> Config:
    raw = yaml.safe_load(yaml.safe_dump(base))  # a deep copy of plain data
    for field, value in values.items():
        set_dotted(raw, field, value)
    return config_from_dict(raw)


def _check_values(base: dict[str, Any], params: list[Param]) -> Config:
    """Validate every searched field at the ends of its range (each choice of a categorical), as an override would
    be; returns the config at the low ends."""
    candidates = [{p.field: p.args[0] for p in params}, {p.field: p.args[-1 if p.kind == "categorical" else 1]
                                                          for p in params}]
    candidates += [{p.field: choice} for p in params if p.kind == "categorical" for choice in p.args[1:-1]]
    try:
        configs = [_config_with(base, values) for values in candidates]
    except ConfigError as error:
        raise ConfigError(f"search space: {error}") from None
    return configs[0]


def _checked_args(label: str, kind: str, args: Any) -> list[Any]:
    if kind == "categorical":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{label}: categorical needs a non-empty list of choices")
        return args
    if not isinstance(args, list) or len(args) not in ((2, 3) if kind == "int" else (2,)):
        shape = "[low, high] or [low, high, step]" if kind == "int" else "[low, high]"
        raise ConfigError(f"{label}: {kind} needs {shape}, got {args!r}")
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"{label}: {kind} bounds must be numbers, got {args!r}")
    if kind in ("int", "logint") and not all(float(a).is_integer() for a in args):
        raise ConfigError(f"{label}: {kind} bounds must be integers, got {args!r}")
    low, high = args[0], args[1]
    if not low < high or (kind in ("loguniform", "logint") and low <= 0):
        raise ConfigError(f"{label}: {kind} needs low < high{' and low > 0' if kind.startswith('log') else ''}, "
                          f"got {args!r}")
    return args


def _section(raw: dict[str, Any], name: str, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: section '{name}' must be a mapping")
    for key, value in section.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown {name} setting '{key}'; use {', '.join(keys)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: {name}.{key} must be an integer >= 0, got {value!r}")
    return section


def _read_space_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"search space file '{path}' not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"search space file '{path}' is not valid YAML ({str(error).splitlines()[0]})") from None


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _report(study: Any, base: dict[str, Any], out: Path, url: str, optuna: Any) -> StudyReport:
    """Write trials.csv, best.yaml and importance.png; return the study's summary."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    names = sorted({key for trial in trials for key in trial.params})
    rows = [[t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.2f}",
             *(t.params.get(name, "") for name in names), t.user_attrs.get("run_dir", "")] for t in trials]
    with open(out / "trials.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "state", "return", *names, "run_dir"])
        writer.writerows(rows)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    if not complete:
        raise RlkitError(f"study '{study.study_name}' has no complete trial yet ({pruned} pruned); run more trials "
                         "or loosen the pruner (space file: pruner: {startup_trials: ...})")
    best = study.best_trial
    best_path = out / "best.yaml"
    config = _config_with(base, best.params)
    save_config(config.model_copy(update={"run_dir": None}), best_path)
    _importance_plot(study, out / "importance.png", optuna, len(complete))
    header = f"{'trial':>5}  {'state':<8} {'return':>8}  " + "  ".join(f"{n:>14}" for n in names)
    lines = [header] + [f"{t.number:>5}  {t.state.name.lower():<8} "
                        f"{('' if t.value is None else f'{t.value:.2f}'):>8}  " +
                        "  ".join(f"{_shown(t.params.get(n, '')):>14}" for n in names) for t in trials]
    return StudyReport(study.study_name, url, out, len(complete) + pruned, pruned, float(best.value),
                       dict(best.params), best_path, "\n".join(lines))


def _importance_plot(study: Any, path: Path, optuna: Any, complete: int) -> None:
    if complete < 2 or len(study.best_trial.params) < 1:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
            axes = optuna.visualization.matplotlib.plot_param_importances(study)
        axes.figure.tight_layout()
        axes.figure.savefig(path, dpi=100)
        plt.close(axes.figure)
    except ImportError:
        print("rlkit: note: importance.png needs matplotlib (pip install 'rlkit[plot]'); skipped", file=sys.stderr)
    except (RuntimeError, ValueError) as error:  # e.g. every trial had the same value
        print(f"rlkit: note: no importance plot ({str(error).splitlines()[0][:100]})", file=sys.stderr)


def _shown(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
