"""agent.precision: bf16 autocast where the hardware has it (detected, not assumed), fp32 weights, same maths to
bf16 rounding; auto picks bf16 for CNN torsos only."""

import numpy as np
import pytest
import torch

import rlkit.agents.update_paths as update_paths
from rlkit import device as device_module
from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.errors import ConfigError
from rlkit.replay import Batch

SHAPE = (4, 84, 84)


def make_agent(*overrides, shape=SHAPE):
    torso = "nature_cnn" if len(shape) == 3 else "mlp"
    config = load_config(None, ["seed=1", f"agent.net.torso={torso}", "agent.net.hidden=[32]", "agent.lr=0.001",
                                *overrides])
    return build_agent(config, shape, "uint8" if len(shape) == 3 else "float32", 3, torch.device("cpu"))


def image_batch(size=8, seed=0):
    rng = np.random.default_rng(seed)
    return Batch(rng.integers(0, 256, size=(size, *SHAPE), dtype=np.uint8), rng.integers(3, size=size),
                 rng.normal(size=size).astype(np.float32), np.full(size, 0.9, np.float32),
                 rng.integers(0, 256, size=(size, *SHAPE), dtype=np.uint8), np.arange(size), np.ones(size, np.float32))


@pytest.fixture
def bf16_hardware(monkeypatch):
    """Pretend the CPU has bf16 hardware (torch computes bf16 on any CPU, only slower without it)."""
    monkeypatch.setattr(update_paths, "bf16_native", lambda device: True)


def test_cpu_bf16_detection_reads_the_cpu_flags(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_module, "_cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert device_module.bf16_native(cpu) is torch.backends.mkldnn.is_available()
    monkeypatch.setattr(device_module, "_cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    assert device_module.bf16_native(cpu) is False


def test_auto_is_bf16_for_cnn_torsos_on_bf16_hardware_only(monkeypatch):
    monkeypatch.setattr(update_paths, "bf16_native", lambda device: True)
    assert make_agent().precision == "bf16"
    assert make_agent(shape=(4,)).precision == "fp32"  # MLPs stay fp32 (and take the fused update)
    monkeypatch.setattr(update_paths, "bf16_native", lambda device: False)
    assert make_agent().precision == "fp32"


def test_explicit_bf16_without_the_hardware_is_a_config_error(monkeypatch):
    monkeypatch.setattr(update_paths, "bf16_native", lambda device: False)
    with pytest.raises(ConfigError, match="agent.precision=bf16 needs bf16 hardware"):
        make_agent("agent.precision=bf16")


def test_fused_update_refuses_bf16(bf16_hardware):
    with pytest.raises(ConfigError, match="agent.precision=bf16"):
        make_agent("agent.precision=bf16", "agent.compile=fused", shape=(4,))
    assert make_agent("agent.precision=bf16", shape=(4,)).update_path == "eager"


def test_bf16_update_keeps_fp32_weights_and_tracks_fp32(bf16_hardware):
    fp32, bf16 = make_agent("agent.precision=fp32"), make_agent("agent.precision=bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    batch = image_batch()
    with torch.no_grad():
        q32, q16 = fp32.q_values(batch.obs), bf16.q_values(batch.obs)
    assert q16.dtype == torch.float32
    torch.testing.assert_close(q16, q32, rtol=0.05, atol=0.05)  # same weights, bf16 rounding
    for _ in range(5):
        out32, out16 = fp32.update(batch), bf16.update(batch)
    assert out16["loss"].dtype == torch.float32 and out16["td_errors"].dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in bf16.online.parameters())
    for p, q in zip(fp32.online.parameters(), bf16.online.parameters()):
        torch.testing.assert_close(q, p, rtol=0.05, atol=0.01)
    assert bf16.greedy(batch.obs).tolist() == bf16.q_values(batch.obs).argmax(1).tolist()


def test_bf16_update_learns_a_fixed_batch(bf16_hardware):
    agent = make_agent("agent.precision=bf16", "agent.gamma=0.0")
    batch = image_batch(size=16)
    batch.discounts[:] = 0.0
    first = agent.update(batch)["loss"].item()
    for _ in range(60):
        last = agent.update(batch)["loss"].item()
    assert last < 0.1 * first


@pytest.mark.parametrize("torso", ["nature_cnn", "impala_cnn"])
def test_uint8_pixels_under_autocast_match_the_float32_batch_exactly(torso):
    # The CNN torsos cast uint8 pixels straight to bf16 under autocast; the result must be what the first
    # convolution's own cast of the float32 batch (pixels / 255) gave, bit for bit.
    from rlkit.nets.torsos import ImpalaCNN, NatureCNN

    torch.manual_seed(0)
    network = (NatureCNN if torso == "nature_cnn" else ImpalaCNN)(SHAPE)
    pixels = torch.as_tensor(image_batch(size=4).obs)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        direct = network(pixels)
        floats = (pixels.float() / 255.0).contiguous(memory_format=torch.channels_last)
        body = network.stages if torso == "impala_cnn" else network.conv
        reference = network.fc(body(floats))
    assert direct.dtype == torch.bfloat16
    assert torch.equal(direct, reference)
