"""Edge agents: fake-quant layers, quantize_network, distillation, ONNX export with parity, the cost model."""

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from rlkit.agents.common import save_agent_checkpoint
from rlkit.edge.distill import distill
from rlkit.nets.quant import Int8Linear, TernaryLinear, fake_quantize, quantize_network, ternary_weights
from rlkit.agents.registry import build_agent
from rlkit.training.checkpoint import load_checkpoint
from rlkit.edge import cost, export_onnx, load_policy
from rlkit.edge.cost_model import PJ, analyze_onnx, summarize_layers
from rlkit.edge.parity import record_observations
from rlkit.edge.graph import export_network
from rlkit.errors import CheckpointError, RlkitError
from rlkit.training.evaluate import load_agent, warm_start
from rlkit.nets import build_q_network
from rlkit.run import train
from rlkit.vec import make_env

from helpers import fast_config


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Briefly trained CartPole agents: fp32, int8 QAT and ternary QAT (256-wide, as the edge targets use)."""
    root = tmp_path_factory.mktemp("edge")
    wide = ["agent.net.hidden=[256,256]", "train.total_steps=1000", "train.eval_every=0"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small-batch updates: extra threads only add hand-off (and contention) cost
    try:
        return {
            "fp32": train(fast_config(root / "fp32", *wide), progress=False).checkpoint,
            "int8": train(fast_config(root / "int8", *wide, "agent.net.quant=int8"), progress=False).checkpoint,
            "ternary": train(fast_config(root / "ternary", *wide, "agent.net.quant=ternary"),
                             progress=False).checkpoint,
        }
    finally:
        torch.set_num_threads(threads)


# -- layers ---------------------------------------------------------------------------------------------------------
def test_fake_quantize_hand_example_and_straight_through_gradient():
    x = torch.tensor([0.26, -0.74, 1.5, 0.05], requires_grad=True)
    y = fake_quantize(x, torch.tensor(0.5), -2, 2)  # x / 0.5 = 0.52, -1.48, 3.0, 0.1 -> 1, -1, 2 (clamped), 0
    assert y.tolist() == [0.5, -0.5, 1.0, 0.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("layer_class", [Int8Linear, TernaryLinear])
def test_gradients_flow_through_quantised_layers(layer_class):
    torch.manual_seed(0)
    layer = layer_class(6, 4)
    x = torch.randn(16, 6, requires_grad=True)
    layer(x).pow(2).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert layer.bias.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_quantised_weights_follow_optimiser_steps():
    torch.manual_seed(0)
    layer = TernaryLinear(4, 3)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.5, fused=True)  # fused: no version-counter bump
    x = torch.randn(8, 4)
    with torch.no_grad():
        before = layer(x).clone()
    layer(x).sum().backward()
    optimizer.step()
    with torch.no_grad():
        assert not torch.equal(before, layer(x))


def test_int8_linear_is_close_to_float():
    torch.manual_seed(0)
    reference = nn.Linear(64, 32)
    layer = quantize_network(nn.Sequential(reference), "int8")[0]
    x = torch.randn(256, 64)
    layer(x.requires_grad_())  # a training forward calibrates the activation scale
    with torch.no_grad():
        error = (layer(x) - reference(x)).abs().max() / reference(x).abs().max()
    assert error < 0.02


def test_ternary_weights_hand_example():
    weight = torch.tensor([[0.1, -0.5], [0.3, 0.0]])
    stored, gamma = ternary_weights(weight, "absmean")  # gamma = mean |W| = 0.225; W / gamma = .44, -2.2, 1.3, 0
    assert gamma.item() == pytest.approx(0.225)
    assert stored.tolist() == [[0, -1], [1, 0]] and stored.dtype == torch.int8
    _, median = ternary_weights(weight, "absmedian")  # median of (0.1, 0.5, 0.3, 0.0): torch takes the lower, 0.1
    assert median.item() == pytest.approx(0.1)


@pytest.mark.parametrize("scale", ["absmean", "absmedian"])
def test_ternary_linear_uses_three_levels(scale):
    torch.manual_seed(0)
    layer = TernaryLinear(32, 16, scale=scale)
    weights = layer.quantized_weight().detach()
    gamma = layer.weight.abs().mean() if scale == "absmean" else layer.weight.abs().median()
    levels = torch.unique(torch.round(weights / gamma, decimals=4))
    assert set(levels.tolist()) <= {-1.0, 0.0, 1.0} and len(levels) == 3


@pytest.mark.parametrize("mode,layer_class", [("int8", Int8Linear), ("ternary", TernaryLinear)])
def test_quantize_network_swaps_every_linear(mode, layer_class):
    network = build_q_network((4,), 3, 1, "mlp", [32, 16], dueling=True)
    keys = set(network.state_dict())
    obs = torch.randn(5, 4)
    quantize_network(network, mode)
    assert not any(type(module) is nn.Linear for module in network.modules())
    assert sum(isinstance(module, layer_class) for module in network.modules()) == 4  # 2 torso, value, advantage
    assert keys <= set(network.state_dict())  # weights and biases keep their names
    assert network(obs).shape == (5, 3, 1)


# -- export and runtime ---------------------------------------------------------------------------------------------
def test_fp32_export_parity_and_runtime(checkpoints, tmp_path):
    report = export_onnx(checkpoints["fp32"], tmp_path / "fp32.onnx", count=500)
    assert report.quantization == "none" and report.observations == 500
    assert report.agreement == 1.0 and report.max_abs_dq < 1e-4
    metadata = json.loads((tmp_path / "fp32.json").read_text())
    assert metadata["obs_shape"] == [4] and metadata["num_actions"] == 2 and metadata["critic"] == {"type": "scalar"}
    policy = load_policy(tmp_path / "fp32.onnx")
    obs = np.zeros(4, dtype=np.float32)
    assert isinstance(policy.act(obs), int) and policy.q_values(obs).shape == (2,)
    assert policy.act(np.zeros((3, 4), np.float32)).shape == (3,)
    np.testing.assert_allclose(policy.q_values(obs[None]), load_agent(checkpoints["fp32"]).q_values(obs[None]),
                               atol=1e-5)


def test_int8_ptq_export(checkpoints, tmp_path):
    report = export_onnx(checkpoints["fp32"], tmp_path / "int8.onnx", quantize="int8", count=500)
    assert report.quantization == "int8-ptq"
    # CartPole's action gaps are tiny next to |Q| (both actions usually keep the pole up), so int8 rounding flips
    # near-ties: strict agreement is high but below 99% for a briefly trained agent; the flips cost little.
    assert report.agreement >= 0.8, report.summary()
    assert report.max_regret <= 0.05 * report_q_scale(checkpoints["fp32"]), report.summary()
    assert report.compression >= 3.5
    weights = [t for t in onnx.load(str(tmp_path / "int8.onnx")).graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert sum(numpy_helper.to_array(t).size for t in weights) >= 67_072  # all three weight matrices stored as int8
    # 7-bit weights (onnxruntime's reduce_range): the int8 kernels of x86 CPUs without VNNI (AVX2, plain AVX-512) add
    # pairs of u8 x s8 products in 16 bits, which saturates with full-range weights (seen: 66% agreement on AVX2)
    matrices = [numpy_helper.to_array(t) for t in weights if numpy_helper.to_array(t).ndim == 2]
    assert matrices and all(-64 <= int(w.min()) and int(w.max()) <= 64 for w in matrices)


def report_q_scale(checkpoint):
    agent = load_agent(checkpoint)
    env = make_env("CartPole-v1")
    return float(agent.q_values(record_observations(agent, env, 200, seed=5)).abs().max())


def test_export_advice_only_for_int8_ptq_below_the_agreement_target(tmp_path):
    from rlkit.edge.export import ExportReport

    def report(mode, agreement):
        return ExportReport(tmp_path / "p.onnx", tmp_path / "p.json", mode, 1000, agreement, 0.5, 0.2, 10, 10, 40, 100)

    assert "quantisation-aware training" in report("int8-ptq", 0.83).advice()
    assert "--keep-fp32" in report("int8-ptq", 0.83).advice()
    assert report("int8-ptq", 0.995).advice() is None
    assert report("int8-qat", 0.5).advice() is None and report("int8-ptq", float("nan")).advice() is None


def test_int8_qat_export_keeps_its_learned_scales(checkpoints, tmp_path):
    report = export_onnx(checkpoints["int8"], tmp_path / "qat.onnx", quantize="int8", count=500)
    assert report.quantization == "int8-qat"
    # onnxruntime fuses the QDQ pairs into integer kernels that requantise in one step, so a rare activation lands
    # one int8 level away from the torch fake-quant value: differences stay around 0.1% of |Q|.
    assert report.agreement >= 0.99 and report.max_abs_dq < 5e-3 * report_q_scale(checkpoints["int8"]), \
        report.summary()
    assert report.compression >= 3.5


def test_ternary_export(checkpoints, tmp_path):
    report = export_onnx(checkpoints["ternary"], tmp_path / "ternary.onnx", quantize="ternary", count=500)
    assert report.quantization == "ternary"
    assert report.agreement >= 0.99 and report.max_abs_dq < 1e-3 * report_q_scale(checkpoints["ternary"]), \
        report.summary()
    assert report.compression >= 12  # 2 bits per weight, biases and scales in fp32
    metadata = json.loads((tmp_path / "ternary.json").read_text())
    model = onnx.load(str(tmp_path / "ternary.onnx"))
    stored = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name in metadata["ternary_initializers"]]
    assert len(stored) == 3 and all(set(np.unique(w)) <= {-1, 0, 1} and w.dtype == np.int8 for w in stored)


@pytest.mark.parametrize("overrides", [
    ["agent.critic.type=hl_gauss", "agent.critic.bins=21"],
    ["agent.critic.type=c51", "agent.critic.bins=11", "agent.dueling=true"],
    ["agent.critic.type=qr", "agent.critic.quantiles=8", "agent.dueling=true"],
    ["agent.critic.type=iqn", "agent.critic.act_samples=8", "agent.critic.embedding_dim=16"],  # torch exporter path
    ["agent.net.torso=resmlp", "agent.net.hidden=[32]", "agent.net.blocks=1"],  # batch norm: torch exporter path
])
def test_export_parity_of_other_critics_and_torsos(overrides, tmp_path):
    config = fast_config(tmp_path / "run", "agent.name=dqn", *overrides)
    agent = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    checkpoint = save_agent_checkpoint(agent, config, tmp_path / "agent.pt")
    observations = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    report = export_onnx(checkpoint, tmp_path / "agent.onnx", observations=observations)
    assert report.agreement == 1.0 and report.max_abs_dq < 1e-4, report.summary()
    if "agent.critic.type=iqn" in overrides:
        with pytest.raises(RlkitError, match="IQN agent"):
            export_onnx(checkpoint, tmp_path / "ptq.onnx", quantize="int8", parity=False)
        return
    ptq = export_onnx(checkpoint, tmp_path / "ptq.onnx", quantize="int8", calibration=observations,
                      observations=observations)
    assert ptq.agreement >= 0.8 and ptq.compression > 1.5, ptq.summary()


def test_export_refuses_impossible_requests(checkpoints, tmp_path):
    with pytest.raises(RlkitError, match="ternary-trained"):
        export_onnx(checkpoints["fp32"], tmp_path / "x.onnx", quantize="ternary", parity=False)
    with pytest.raises(RlkitError, match="--quantize"):
        export_onnx(checkpoints["fp32"], tmp_path / "x.onnx", quantize="int4", parity=False)
    with pytest.raises(RlkitError, match="observations must have shape"):
        export_onnx(checkpoints["fp32"], tmp_path / "x.onnx", observations=np.zeros((5, 3), np.float32))


def test_distilled_student_matches_teacher(checkpoints, tmp_path):
    teacher = load_agent(checkpoints["fp32"])
    observations = record_observations(teacher, make_env("CartPole-v1"), 2000, epsilon=0.2, seed=0)
    student_config = fast_config(tmp_path / "student", "agent.net.hidden=[16]")
    target = teacher.q_values(observations)
    untrained = distill(teacher, student_config, observations, epochs=0)
    student = distill(teacher, student_config, observations, epochs=40, lr=3e-3)
    error = (student.q_values(observations) - target).pow(2).mean()
    assert error < 0.1 * (untrained.q_values(observations) - target).pow(2).mean()
    assert sum(p.numel() for p in student.online.parameters()) < 200
    path = save_agent_checkpoint(student, student_config, tmp_path / "student.pt")
    assert load_agent(path).q_values(observations[:5]).shape == (5, 2)
    # loss="kl" matches the greedy policy (softmax at a low temperature), not the values
    greedy = target.argmax(1)
    agreement = lambda agent: (agent.q_values(observations).argmax(1) == greedy).float().mean().item()  # noqa: E731
    kl_student = distill(teacher, student_config, observations, epochs=20, loss="kl", temperature=0.01, lr=3e-3)
    assert agreement(kl_student) >= 0.9 and agreement(kl_student) > agreement(untrained)


def test_warm_start_copies_fp32_weights_into_a_ternary_network(checkpoints, tmp_path):
    wide = ["agent.net.hidden=[256,256]", "train.total_steps=200", "train.eval_every=0"]
    config = fast_config(tmp_path / "tern", *wide, "agent.net.quant=ternary", f"agent.init_from={checkpoints['fp32']}")

    agent = build_agent(config, (4,), np.float32, 2, torch.device("cpu"))
    warm_start(agent, checkpoints["fp32"], (4,), 2)
    source = load_checkpoint(checkpoints["fp32"])["agent"]["online"]
    for key, value in agent.online.state_dict().items():
        if key in source:
            assert torch.equal(value, source[key]), key
    assert torch.equal(agent.target.state_dict()["head.linear.weight"], source["head.linear.weight"])
    result = train(config, progress=False)  # the trainer takes agent.init_from and trains on
    assert load_checkpoint(result.checkpoint)["config"]["agent"]["init_from"] == str(checkpoints["fp32"])
    with pytest.raises(CheckpointError, match="does not fit this agent's network"):
        warm_start(build_agent(fast_config(tmp_path / "x"), (4,), np.float32, 2, torch.device("cpu")),
                   checkpoints["fp32"], (4,), 2)  # 32-wide network, 256-wide checkpoint
    with pytest.raises(CheckpointError, match="same env"):
        warm_start(agent, checkpoints["fp32"], (6,), 3)


# -- cost model -----------------------------------------------------------------------------------------------------
def _tiny_network(mode=None):
    """4 -> 8 -> 2 MLP with fixed weights: 32 + 8 + 16 + 2 = 58 parameters, 4*8 + 8*2 = 48 MACs."""
    network = build_q_network((4,), 2, 1, "mlp", [8], dueling=False)
    with torch.no_grad():
        for index, parameter in enumerate(network.parameters()):
            parameter.copy_(torch.linspace(-1, 1, parameter.numel()).reshape(parameter.shape) * (index + 1))
    if mode:
        quantize_network(network, mode)
        network(torch.randn(16, 4))  # calibrates the int8 activation scales
    return network


def test_cost_fp32_hand_computed(tmp_path):
    export_network(_tiny_network(), (4,), tmp_path / "tiny.onnx")
    totals = summarize_layers(analyze_onnx(tmp_path / "tiny.onnx", []))
    assert totals["parameters"] == 58 and totals["macs"] == 48
    assert totals["weight_bytes"] == totals["fp32_weight_bytes"] == 232
    assert totals["energy_pj"] == pytest.approx(48 * (3.7 + 0.9))


def test_cost_int8_and_ternary_hand_computed(tmp_path):
    export_network(_tiny_network("int8"), (4,), tmp_path / "int8.onnx")
    totals = summarize_layers(analyze_onnx(tmp_path / "int8.onnx", []))
    # 48 int8 weights + 10 fp32 biases + per-channel scales (10 x 4 B) and zero points (10 x 1 B)
    assert totals["weight_bytes"] == 48 + 40 + 40 + 10 and totals["precision"] == "int8"
    assert totals["energy_pj"] == pytest.approx(48 * (PJ["int8_mult"] + PJ["int8_add"]) + 10 * PJ["fp32_mult"])

    ternary = export_network(_tiny_network("ternary"), (4,), tmp_path / "ternary.onnx")
    layers = analyze_onnx(tmp_path / "ternary.onnx", ternary)
    totals = summarize_layers(layers)
    # 32 + 16 weights at 2 bits = 8 + 4 bytes; 10 fp32 biases; one fp32 scale + int8 zero point per layer
    assert totals["weight_bytes"] == 8 + 4 + 40 + 2 * 5 and totals["precision"] == "ternary"
    nonzero = sum(layer.nonzero_weights for layer in layers)
    assert 0 < nonzero < 48
    assert totals["energy_pj"] == pytest.approx(nonzero * PJ["int8_add"] + 10 * PJ["fp32_mult"])


def test_cost_report_measures_latency(checkpoints, tmp_path):
    report = cost(checkpoints["fp32"], latency_runs=50)
    assert report.parameters == 67_586 and report.macs == 4 * 256 + 256 * 256 + 256 * 2
    assert report.latency_us > 0 and report.precision == "fp32"
    assert "MACs/decision" in report.summary()


def test_export_out_path_gains_the_onnx_suffix(checkpoints, tmp_path, capsys):
    from rlkit.cli import main

    assert main(["export", str(checkpoints["fp32"]), "--out", str(tmp_path / "policy"), "--observations", "50"]) == 0
    assert (tmp_path / "policy.onnx").is_file() and (tmp_path / "policy.json").is_file()
    assert not (tmp_path / "policy").exists()
    assert "policy.onnx" in capsys.readouterr().out


def test_quantize_network_keeps_named_layers_in_fp32():
    network = quantize_network(build_q_network((4,), 2, 1, "mlp", [8, 8], True), "int8", keep_fp32=("first", "head"))
    kinds = {name: type(module) for name, module in network.named_modules() if isinstance(module, nn.Linear)}
    assert kinds["torso.layers.1"] is nn.Linear and kinds["head.value"] is nn.Linear
    assert kinds["head.advantage"] is nn.Linear and kinds["torso.layers.3"] is Int8Linear
    with pytest.raises(ValueError, match="keep_fp32"):
        quantize_network(build_q_network((4,), 2, 1, "mlp", [8], False), "int8", keep_fp32=("tail",))


def test_int8_ptq_keep_fp32_leaves_those_layers_float_and_reports_the_return(checkpoints, tmp_path):
    report = export_onnx(checkpoints["fp32"], tmp_path / "keep.onnx", quantize="int8", count=300,
                         keep_fp32=("first", "head"))
    graph = onnx.load(str(tmp_path / "keep.onnx")).graph
    int8 = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert [tuple(t.dims) for t in int8] == [(256, 256)]  # only the middle layer's weights are int8
    assert report.returns is not None and report.returns.episodes == 10 and report.returns.agent_return > 0
    assert "deployed: return" in report.summary()
    assert json.loads((tmp_path / "keep.json").read_text())["keep_fp32"] == ["first", "head"]
    with pytest.raises(RlkitError, match="keep-fp32"):
        export_onnx(checkpoints["int8"], tmp_path / "qat.onnx", keep_fp32=("head",))


def test_qat_fine_tune_with_fp32_head_exports_within_the_agreement_target(checkpoints, tmp_path):
    """make run's recipe on a short run: int8 QAT from the fp32 checkpoint, head in fp32: the export follows its
    torch agent on >= 99% of the parity states, and is also compared with the fp32 checkpoint it started from."""
    tuned = train(fast_config(tmp_path / "tuned", "agent.net.hidden=[256,256]", "agent.net.quant=int8",
                              "agent.net.keep_fp32=[head]", f"agent.init_from={checkpoints['fp32']}",
                              "train.total_steps=600", "agent.lr=0.0001", "train.eval_every=0"),
                  progress=False).checkpoint
    report = export_onnx(tuned, tmp_path / "tuned.onnx", quantize="int8", count=500)
    assert report.quantization == "int8-qat" and report.agreement >= 0.99, report.summary()
    assert report.reference is not None and report.reference.checkpoint == str(checkpoints["fp32"])
    assert 0.0 <= report.reference.agreement <= 1.0 and report.reference.returns is not None
    assert "fine-tuned from" in report.summary()


def test_noisy_head_exports_its_mean_weights(tmp_path):
    config = fast_config(tmp_path / "run", "agent.name=dqn", "agent.net.noisy=true", "agent.dueling=true")
    agent = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    checkpoint = save_agent_checkpoint(agent, config, tmp_path / "agent.pt")
    observations = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    report = export_onnx(checkpoint, tmp_path / "agent.onnx", observations=observations)
    assert report.agreement == 1.0 and report.max_abs_dq < 1e-4, report.summary()  # the greedy (mean) network


def test_export_records_observations_with_the_runs_atari_preprocessing(tmp_path):
    """Calibration and parity observations come from the env as the run made it (its env.atari section), not
    from the default Atari preprocessing: a 2-frame-stack Pong agent exports without a shape mismatch."""
    pytest.importorskip("ale_py")
    from rlkit.config import load_config

    config = load_config(None, ["env.id=ALE/Pong-v5", "env.atari.frame_stack=2", "agent.net.torso=nature_cnn",
                                f"run_dir={tmp_path / 'run'}"])
    agent = build_agent(config, (2, 84, 84), "uint8", 6, torch.device("cpu"))
    checkpoint = save_agent_checkpoint(agent, config, tmp_path / "pong.pt")
    report = export_onnx(checkpoint, tmp_path / "pong.onnx", count=20)
    assert report.observations == 20 and report.agreement == 1.0
