"""The edge runtime acts in a process where torch cannot be imported (numpy + onnxruntime only)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch

from rlkit.edge.graph import export_network
from rlkit.nets import build_q_network

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("torch imported although it is blocked")
    from rlkit.edge import load_policy
    policy = load_policy(sys.argv[1])
    obs = np.asarray(json.loads(sys.argv[2]), dtype=np.float32)
    result = {"action": policy.act(obs[0]), "actions": policy.act(obs).tolist(),
              "q": policy.q_values(obs).tolist(), "torch_loaded": "torch" in sys.modules}
    print(json.dumps(result))
""")


def test_load_policy_without_torch(tmp_path):
    torch.manual_seed(0)
    network = build_q_network((4,), 3, 1, "mlp", [16], dueling=True)
    export_network(network, (4,), tmp_path / "policy.onnx")
    (tmp_path / "policy.json").write_text(json.dumps({
        "format": "rlkit-edge-policy", "version": 1, "obs_shape": [4], "obs_dtype": "float32", "num_actions": 3,
        "preprocessing": {"input_dtype": "float32", "scale": 1.0}, "critic": {"type": "scalar"},
    }))
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "policy.onnx"), json.dumps(obs.tolist())],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["torch_loaded"]
    with torch.no_grad():
        expected = network(torch.as_tensor(obs))[..., 0].numpy()
    np.testing.assert_allclose(result["q"], expected, atol=1e-5)
    assert result["actions"] == expected.argmax(1).tolist() and result["action"] == int(expected[0].argmax())
