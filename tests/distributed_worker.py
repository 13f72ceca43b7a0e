"""Run under torchrun by tests/test_distributed.py (not a test module): trains a tiny
model in memory in every rank and writes that rank's weights to OUT/rank{RANK}.safetensors.

    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        tests/distributed_worker.py OUT MODEL [KEY=VALUE ...]
"""
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import latentforge as lf

torch.set_num_threads(1)
out, model, *overrides = sys.argv[1:]
run = lf.train(model, overrides=overrides, run_dir=False)
state = {k: v.contiguous() for k, v in run.model.state_dict().items()}
save_file(state, str(Path(out) / f"rank{os.environ.get('RANK', '0')}.safetensors"))
