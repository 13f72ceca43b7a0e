"""Parts of the GAN family (book ch. 17, "The Difficulties of Training GANs"):

- `MinibatchDiscrimination`: features that tell D how similar a sample is to the others in
  its batch, so a collapsed generator is easy to spot (Salimans et al. 2016, sec. 3.2);
- `ReplayBuffer`: a ring buffer of past fakes that D also trains on ("experience replay",
  Shrivastava et al. 2017), held in registered buffers so checkpoints carry it;
- `Discriminator`: D of every GAN here (body, optional labels and minibatch features, head).

Every random draw comes from torch's global RNG (or an explicit `torch.Generator`), so the
engine's checkpointed RNG state gives bitwise-exact resume.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training
    GANs", sec. 3.2): h (B, A) -> o (B, n_kernels).

    M = h T with T (A, n_kernels, kernel_dim) gives rows M_i (n_kernels, kernel_dim);
    c_b(i, j) = exp(-||M_i,b - M_j,b||_1) and o(x_i)_b = sum_{j != i} c_b(i, j) + bias_b, the
    sum over the other samples of x_i's group (as the authors' code, which masks j = i).
    Each feature lies in [bias, bias + group size - 1]; it is maximal when all samples of
    the group are identical. The batch is cut into consecutive groups of at most `group`
    samples, so D's output never depends on how large the evaluation batches are.
    T ~ N(0, 0.05^2) and bias 0 as the authors' code.
    """

    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int, group: int):
        super().__init__()
        self.n_kernels, self.kernel_dim, self.group = n_kernels, kernel_dim, group
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.05)
        self.bias = nn.Parameter(torch.zeros(n_kernels))

    def forward(self, h: Tensor) -> Tensor:
        """h: (B, A) -> (B, n_kernels)."""
        m = (h @ self.T).view(len(h), self.n_kernels, self.kernel_dim)
        return torch.cat([self._similarity(part) for part in m.split(self.group)]) + self.bias

    @staticmethod
    def _similarity(m: Tensor) -> Tensor:
        """m: (n, K, C) -> (n, K): sum over j != i of exp(-L1 distance of rows i and j)."""
        l1 = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(-1)       # (n, n, K)
        close = torch.exp(-l1)
        return close.sum(1) - 1.0  # the diagonal term is exp(-0) = 1 exactly

    def extra_repr(self) -> str:
        return (f"in_features={self.T.shape[0]}, n_kernels={self.n_kernels}, "
                f"kernel_dim={self.kernel_dim}, group={self.group}")


class ReplayBuffer(nn.Module):
    """Ring buffer of past fakes in [0, 1] and their labels (experience replay).

    Stored as registered buffers, so every checkpoint (and `model.safetensors`) holds it and
    a resumed run continues bitwise: `images` uint8 (size, *sample_shape) (fakes quantised to
    1/255, the precision of uint8 image data; size * prod(sample_shape) bytes, 7.8 MB for
    10,000 Fashion-MNIST fakes), `labels` int64 (size,) (0 for unconditional GANs; 8 bytes
    per item) and `count` int64 (): items written so far (write position = count % size;
    a push of more than `size` items writes only its last `size`).
    No method synchronises with the device (no `.item()`), so it is cheap on GPUs.
    """

    def __init__(self, size: int, sample_shape: tuple[int, ...]):
        super().__init__()
        self.size = int(size)
        self.register_buffer("images", torch.zeros(self.size, *sample_shape, dtype=torch.uint8))
        self.register_buffer("labels", torch.zeros(self.size, dtype=torch.int64))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def push(self, images: Tensor, labels: Tensor | None = None) -> None:
        """Write images (n, *sample_shape) in [0, 1] (and labels (n,)) over the oldest items."""
        images, labels = images[-self.size:], None if labels is None else labels[-self.size:]
        pos = (self.count + torch.arange(len(images), device=self.count.device)) % self.size
        self.images[pos] = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
        self.labels[pos] = 0 if labels is None else labels
        self.count += len(images)

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        """n items drawn uniformly with replacement from the filled part (global RNG):
        images (n, *sample_shape) float32 in [0, 1], labels (n,). Push at least once first."""
        filled = self.count.clamp(max=self.size)
        u = torch.rand(n, device=self.count.device, dtype=torch.float64)
        idx = (u * filled).long().clamp(max=self.size - 1)
        return self.images[idx].float() / 255, self.labels[idx]

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Discriminator(nn.Module):
    """x (B, *sample_shape) [+ one-hot labels (B, K)] -> raw scores (B,) (logits; critic
    values for WGAN-GP).

    body: (B, in) -> (B, n_features) features; labels_as: "features" (x is flattened and the
    one-hot appended) or "planes" (K constant planes appended to the image channels).
    minibatch: (n_kernels, kernel_dim, group) of a minibatch-discrimination layer whose
    features are appended before the Dense(1) head (n_kernels 0: none).
    """

    def __init__(self, body: nn.Module, n_features: int, labels_as: str,
                 minibatch: tuple[int, int, int] = (0, 5, 32)):
        super().__init__()
        self.body, self.labels_as = body, labels_as
        k = minibatch[0]
        self.minibatch = MinibatchDiscrimination(n_features, *minibatch) if k else None
        self.head = nn.Linear(n_features + k, 1)

    def forward(self, x: Tensor, onehot: Tensor | None = None) -> Tensor:
        h = self.body(self._join(x, onehot))
        if self.minibatch is not None:
            h = torch.cat([h, self.minibatch(h)], 1)
        return self.head(h).squeeze(1)

    def _join(self, x: Tensor, onehot: Tensor | None) -> Tensor:
        if self.labels_as == "planes":
            if onehot is None:
                return x
            planes = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])
            return torch.cat([x, planes], 1)
        x = x.flatten(1)
        return x if onehot is None else torch.cat([x, onehot], 1)

