"""A fused forward + backward + SGD update for stacks of dense layers (the speed path).

At the book's batch size of 32 a dense autoencoder step is dominated by per-op overhead,
not arithmetic: autograd records ~40 ops and plain SGD walks every parameter. Here the
gradients are written out by hand and folded into the update (``W.addmm_(g.T, h,
alpha=-lr)`` computes the weight gradient and applies it in one call), which halves the
step time on CPU. The math is exactly autograd + `torch.optim.SGD` (lr, no momentum, no
weight decay); tests compare both paths.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# SELU constants (Klambauer et al. 2017), as in torch and Keras.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def dense_stack(module: nn.Module) -> tuple[list[nn.Linear], list[str]] | None:
    """The Linear layers of `module` in order and the activation after each ("selu" or
    "linear"); None when the module holds anything else the fused step can't run."""
    linears, acts = [], []
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            linears.append(layer)
            acts.append("linear")
        elif isinstance(layer, nn.SELU):
            if not linears or acts[-1] != "linear":
                return None
            acts[-1] = "selu"
        elif not isinstance(layer, (nn.Sequential, nn.Flatten, nn.Unflatten, nn.Identity)) \
                and layer is not module and list(layer.children()) == []:
            return None
    return (linears, acts) if linears else None


def plain_sgd_lr(opt: torch.optim.Optimizer) -> float | None:
    """The learning rate when `opt` is plain SGD (one group, no momentum/decay), else None."""
    if type(opt) is not torch.optim.SGD or len(opt.param_groups) != 1:
        return None
    g = opt.param_groups[0]
    if g["momentum"] or g["weight_decay"] or g["nesterov"] or g.get("maximize"):
        return None
    return float(g["lr"])


@torch.no_grad()
def fused_sgd_step(linears: list[nn.Linear], acts: list[str], x: Tensor, target: Tensor,
                   lr: float, output: str) -> Tensor:
    """One SGD step of the dense stack on x (B, ...) -> target (B, ...); returns the loss.

    output: "sigmoid" -> mean binary cross-entropy on logits; "linear" -> mean squared error.
    The last layer's activation must be "linear" (the logits/values).
    """
    h = x.flatten(1)
    hs, zs = [h], []
    for k, layer in enumerate(linears):
        z = torch.addmm(layer.bias, h, layer.weight.t())
        if k < len(linears) - 1:
            h = F.selu(z) if acts[k] == "selu" else z
            zs.append(z)
            hs.append(h)
    target = target.flatten(1)
    # g is -lr * dLoss/dz (dLoss/dz = n * the mean's derivative / n), so every update
    # below adds a product of g unscaled and backpropagation stays linear in g. Scaling
    # here (a tensor op) rather than in addmm_'s alpha lets a compiled step (train.compile)
    # take a new lr from a schedule without compiling again.
    scale = -lr / z.numel()
    if output == "sigmoid":
        loss = F.binary_cross_entropy_with_logits(z, target)
        g = torch.sigmoid(z).sub_(target).mul_(scale)
    else:
        loss = F.mse_loss(z, target)
        g = (z - target).mul_(2.0 * scale)
    ones = torch.ones(len(x), dtype=x.dtype, device=x.device)
    for k in range(len(linears) - 1, -1, -1):
        weight, bias = linears[k].weight, linears[k].bias
        grad_h = g @ weight if k > 0 else None
        weight.addmm_(g.t(), hs[k])
        bias.addmv_(g.t(), ones)
        if k > 0:
            if acts[k - 1] == "selu":  # d selu / dz from the SELU output, one fused kernel
                grad_h = torch.ops.aten.elu_backward(grad_h, SELU_ALPHA, SELU_SCALE, 1.0,
                                                     True, hs[k])
            g = grad_h
    return loss
