"""The error contract, enforced over a corpus of bad inputs to every command: exit status 2, exactly one stderr
line 'rlkit: error: ...' naming the problem, no traceback, and a protected run directory left byte for byte."""

import hashlib
import shutil

import pytest
import torch

from rlkit.cli import main
from rlkit.run import train

from helpers import CARTPOLE, fast_config

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    """A finished run whose directory no bad command may change, and a scratch directory of bad files."""
    root = tmp_path_factory.mktemp("corpus")
    run = root / "run"
    train(fast_config(run), progress=False)
    files = root / "files"
    files.mkdir()
    (files / "empty.yaml").write_text("")
    (files / "duplicate.yaml").write_text("env:\n  id: CartPole-v1\nenv:\n  id: Acrobot-v1\n")
    (files / "latin1.yaml").write_bytes("seed: 0 # caf\xe9\n".encode("latin-1"))
    (files / "list.yaml").write_text("- a\n- b\n")
    (files / "random.pt").write_bytes(bytes(range(1, 256)) * 8)
    (files / "image.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (files / "model.onnx").write_bytes(b"\x08\x08\x12\x07pytorch" + b"onnx" * 8)
    (files / "junk.zip").write_bytes(b"not a zip at all")
    (files / "blocker").write_text("a file where a directory should be")
    return run, files


def _digest(run):
    digest = hashlib.sha256()
    for path in sorted(p for p in run.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(run)).encode() + path.read_bytes())
    return digest.hexdigest()


RUN, FILES, CKPT = "{run}", "{files}", "{run}/checkpoints/final.pt"
CORPUS = [
    # train: configs and overrides
    (["train", str(CARTPOLE), "agent.lr_rate=0.1"], "did you mean 'agent.lr'"),
    (["train", str(CARTPOLE), "agent.learning_rate=0.1"], "did you mean 'agent.lr'"),
    (["train", str(CARTPOLE), "replay.batch_size=many"], "replay.batch_size"),
    (["train", str(CARTPOLE), "agent.lr=-1"], "agent.lr"),
    (["train", str(CARTPOLE), "threads=-1"], "threads"),
    (["train", str(CARTPOLE), "env.id=CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["train", str(CARTPOLE), "env.id=Nope-v0"], "unknown environment id 'Nope-v0'"),
    (["train", str(CARTPOLE), "env.id=Pendulum-v1"], "Discrete"),
    (["train", str(CARTPOLE), "env.id=no_such_module:Thing-v0"], "no_such_module"),
    (["train", str(CARTPOLE), "replay.storage=frames"], "replay.storage"),
    (["train", str(CARTPOLE), "replay.capacity=1000000000000"], "GiB, more than this machine"),
    (["train", str(CARTPOLE), "seed=100000000000000000000000"], "seed"),
    (["train", str(CARTPOLE), "agent.name=dqnn"], "agent.name"),
    (["train", str(CARTPOLE), "env.action_mask=obs"], "no 'action_mask' observation key"),
    (["train", str(CARTPOLE), "env.action_mask=sometimes"], "env.action_mask"),
    (["train", str(CARTPOLE), "agent.net.inputs={pos: {torso: mlp}}"], "net.inputs"),
    (["train", str(CARTPOLE), "agent.net.torso=auto", "agent.net.inputs={obs: {torso: small_cnn}}"], "names key"),
    (["tune", str(CARTPOLE), "--trials", "1", "--space", "{files}/list.yaml"], "search space"),
    (["tune", str(CARTPOLE), "--trials", "1", "--space", "{files}/missing.yaml"], "not found"),
    (["train", str(CARTPOLE), "agent.name=double_dqn", "agent.double=false"], "implies"),
    (["train", str(CARTPOLE), "distributed.num_actors=2", "replay.save_with_checkpoint=true"], "save_with_checkpoint"),
    (["train", str(CARTPOLE), "agent.init_from=no/such.pt"], "not found"),
    (["train", str(CARTPOLE), "not_an_override"], "not of the form key=value"),
    (["train", "no/such/config.yaml"], "not found"),
    (["train", f"{FILES}/empty.yaml"], "is empty"),
    (["train", f"{FILES}/duplicate.yaml"], "appears twice"),
    (["train", f"{FILES}/latin1.yaml"], "not UTF-8"),
    (["train", f"{FILES}/list.yaml"], "mapping"),
    (["train"], "needs a CONFIG"),
    (["train", str(CARTPOLE), f"run_dir={RUN}"], "already holds a run"),
    (["train", str(CARTPOLE), f"run_dir={FILES}/blocker/run"], "run_dir"),
    pytest.param(["train", str(CARTPOLE), "device=cuda"], "CUDA", marks=NO_CUDA),
    # resume
    (["train", "--resume", RUN, "train.total_steps=600"], "nothing to train"),
    (["train", "--resume", RUN, "agent.lr_rate=1"], "did you mean 'agent.lr'"),
    (["train", "--resume", f"{FILES}/nothing"], "holds no rlkit run"),
    # eval
    (["eval", "no/such.pt"], "not found"),
    (["eval", f"{FILES}/random.pt"], "not a PyTorch checkpoint"),
    (["eval", f"{FILES}/image.pt"], "PNG image"),
    (["eval", f"{FILES}/model.onnx"], "ONNX model"),
    (["eval", f"{FILES}/junk.zip"], "not a PyTorch checkpoint"),
    (["eval", str(CARTPOLE)], "text file"),
    (["eval", CKPT, "--seed", "-1"], "--seed"),
    (["eval", CKPT, "--epsilon", "2"], "--epsilon"),
    (["eval", CKPT, "--epsilon", "-0.5"], "--epsilon"),
    (["eval", CKPT, "--episodes", "0"], "--episodes"),
    (["eval", CKPT, "--episodes", "many"], "--episodes"),
    (["eval", CKPT, "--env", "Nope-v0"], "Nope-v0"),
    (["eval", CKPT, "--env", "Acrobot-v1"], "Acrobot-v1"),
    (["eval", CKPT, "--video", f"{FILES}/blocker"], "is a file"),
    pytest.param(["eval", CKPT, "--device", "cuda"], "no CUDA", marks=NO_CUDA),
    (["eval"], "required"),
    # export
    (["export", CKPT, "--observations", "0"], "--observations"),
    (["export", CKPT, "--quantize", "ternary"], "ternary"),
    (["export", CKPT, "--quantize", "int4"], "--quantize"),
    (["export", CKPT, "--keep-fp32", "head"], "--keep-fp32"),
    (["export", CKPT, "--quantize", "int8", "--keep-fp32", "tail"], "--keep-fp32"),
    (["export", CKPT, "--out", f"{FILES}/blocker/policy.onnx"], "is a file, not a directory"),
    (["export", f"{FILES}/random.pt"], "not a PyTorch checkpoint"),
    # import-sb3
    (["import-sb3", f"{FILES}/junk.zip"], "--env"),
    (["import-sb3", f"{FILES}/junk.zip", "--env", "CartPole-v1", "--out", f"{FILES}/new.pt"], "not a readable zip"),
    (["import-sb3", "no/such.zip", "--env", "CartPole-v1", "--out", f"{FILES}/new.pt"], "not found"),
    (["import-sb3", f"{FILES}/junk.zip", "--env", "CartPole-v1", "--out", CKPT], "exists already"),
    # solve
    (["solve", "--checkpoint", CKPT, "--scramble", "5"], "puzzle"),
    (["solve", "--checkpoint", "no/such.pt", "--scramble", "5"], "not found"),
    (["solve", "--checkpoint", CKPT, "--max-seconds", "0"], "--max-seconds"),
    (["solve", "--checkpoint", CKPT, "--max-nodes", "-1"], "--max-nodes"),
    (["solve", "--checkpoint", CKPT, "--batch", "0"], "--batch"),
    pytest.param(["solve", "--checkpoint", CKPT, "--device", "cuda"], "no CUDA", marks=NO_CUDA),
    # plot
    (["plot", RUN, "--out", f"{FILES}/curve.txt"], "must end in .png"),
    (["plot", f"{FILES}/nothing"], "nothing"),
    # the top level
    (["fly"], "invalid choice"),
    (["train", str(CARTPOLE), "--no-such-flag"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, fragment", CORPUS)
def test_bad_input_is_one_line_exit_2_and_damages_nothing(protected, capsys, argv, fragment):
    run, files = protected
    argv = [part.replace("{run}", str(run)).replace("{files}", str(files)) for part in argv]
    fresh = files / "fresh"
    if argv[:1] == ["train"] and len(argv) > 1 and "--resume" not in argv and not any("run_dir=" in a for a in argv):
        argv.append(f"run_dir={fresh}")  # where a wrongly accepted start would go
    before = _digest(run)
    capsys.readouterr()
    try:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("rlkit: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err and fragment in err, err
        assert _digest(run) == before
        assert not fresh.exists()  # a refused start leaves no run directory behind
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
