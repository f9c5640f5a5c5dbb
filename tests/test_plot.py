"""rlkit plot: grouping seeds, aggregation, area under the curve, and the CLI writing a PNG."""

import numpy as np
import pytest

from rlkit.cli import main
from rlkit.plot import aggregate, area_under_curve, group_name, read_curve
from rlkit.run import train

from helpers import fast_config


def test_group_names_drop_the_seed():
    assert group_name("runs/hl_gauss-seed3") == "hl_gauss"
    assert group_name("runs/huber_seed0") == "huber"
    assert group_name("runs/c51/seed2") == "c51"
    assert group_name("runs/plain") == "plain"


def test_aggregate_and_auc_by_hand():
    curves = [(np.array([0, 10, 20]), np.array([0.0, 10.0, 20.0])), (np.array([0, 10, 20, 30]), np.array([2.0, 4, 6, 8]))]
    steps, mean, std = aggregate(curves)
    assert steps.tolist() == [0, 10, 20]
    assert mean.tolist() == [1.0, 7.0, 13.0] and std.tolist() == [1.0, 3.0, 7.0]
    assert area_under_curve(np.array([0, 10, 20]), np.array([0.0, 10.0, 10.0])) == pytest.approx(7.5)


def test_cli_plot_writes_a_png(tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        run_dir = tmp_path / f"dqn-seed{seed}"
        train(fast_config(run_dir, f"seed={seed}"), progress=False)
        runs.append(str(run_dir))
    steps, values = read_curve(runs[0])
    assert steps.tolist() == [300, 600] and len(values) == 2
    out = tmp_path / "curves.png"
    assert main(["plot", *runs, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
