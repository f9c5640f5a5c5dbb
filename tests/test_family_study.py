"""scripts/family_study.py keeps a committed record per finished run and reuses it instead of training again."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("minatar")
ROOT = Path(__file__).resolve().parents[1]


def load_study():
    spec = importlib.util.spec_from_file_location("family_study", ROOT / "scripts" / "family_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_study(study, monkeypatch, tmp_path, steps, records="records"):
    argv = ["family_study.py", "--games", "Breakout", "--variants", "dqn", "--seeds", "1", "--steps", str(steps),
            "--jobs", "1", "--workdir", str(tmp_path / "runs"), "--records", str(tmp_path / records),
            "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", argv)
    study.main()


def test_records_are_written_and_reused_without_the_run_directories(tmp_path, monkeypatch):
    study = load_study()
    run_study(study, monkeypatch, tmp_path, steps=1000)
    record_file = tmp_path / "records" / "Breakout" / "dqn-seed0.json"
    record = json.loads(record_file.read_text())
    assert (record["budget"], record["step"], record["seed"]) == (1000, 1000, 0)
    assert record["eval_steps"][-1] == 1000 and len(record["eval_returns"]) == len(record["eval_steps"])
    assert "| Breakout | dqn | 1 |" in (tmp_path / "out" / "family_study.md").read_text()

    # a fresh checkout has the records but no runs: nothing is trained again
    (tmp_path / "out" / "family_study.md").unlink()
    for path in sorted((tmp_path / "runs").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()

    def no_training(*args, **kwargs):
        raise AssertionError("a run with a record was trained again")

    monkeypatch.setattr(study, "train", no_training)
    run_study(study, monkeypatch, tmp_path, steps=1000)
    assert (tmp_path / "out" / "family_study.md").exists()
    assert not (tmp_path / "runs" / "Breakout").exists()


def test_a_study_at_another_budget_leaves_the_records_and_runs_of_this_one_alone(tmp_path, monkeypatch, capsys):
    """Records and run directories are named by game, variant and seed: a study at another --steps into the same
    folders must neither overwrite a record nor pass a run trained at another budget off as its own."""
    study = load_study()
    run_study(study, monkeypatch, tmp_path, steps=1000)
    record_file = tmp_path / "records" / "Breakout" / "dqn-seed0.json"
    before = record_file.read_text()
    with pytest.raises(SystemExit) as exit_info:
        run_study(study, monkeypatch, tmp_path, steps=2000)
    assert exit_info.value.code == 2 and "--records" in capsys.readouterr().err
    assert record_file.read_text() == before

    # new records, but the run directory of the 1,000-step study is still in --workdir
    with pytest.raises(SystemExit) as exit_info:
        run_study(study, monkeypatch, tmp_path, steps=2000, records="records2000")
    assert exit_info.value.code == 2 and "--workdir" in capsys.readouterr().err
    assert (tmp_path / "runs" / "Breakout" / "dqn-seed0" / "checkpoints" / "final.pt").exists()
    assert not (tmp_path / "records2000" / "Breakout" / "dqn-seed0.json").exists()
