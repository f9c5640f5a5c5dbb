"""The README's embedding example runs as written (against a freshly trained checkpoint)."""

import re
import subprocess
import sys

from rlkit.run import train

from helpers import ROOT, fast_config


def test_embedding_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- embedding-example.*?-->\s*```python\n(.*?)```", readme, re.S)
    assert block, "README lost its embedding example"
    result = train(fast_config(tmp_path / "run"), progress=False)
    code = block.group(1).replace("runs/make_run/checkpoints/final.pt", str(result.checkpoint))
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert re.match(r"return \d+\.\d", completed.stdout)
