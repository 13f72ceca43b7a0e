"""`evaluating(module)`: eval mode inside a block, the module's previous mode after it (also
when the block raises). Used wherever the library runs a model that a caller may be
training (sampling, scoring, evaluation)."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def evaluating(module):
    """Put `module` (a torch nn.Module) in eval mode for the block, then restore its mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
