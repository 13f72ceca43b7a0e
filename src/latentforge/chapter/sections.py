"""The sections of Hands-On ML ch. 17 that `latentforge chapter` reproduces, in book order.

Each `Section` names the model and recipe that reproduce the book's code, the values the
book's notebook reaches (``docs/book-reference.md``; "-" where it prints none), what the
section measures besides the final validation losses, and the figures it shows.

Profiles:
- "full": every book recipe as the book runs it (all 55,000 training images).
- "quick": the `fast` recipes (book quality in fewer steps) with smaller budgets where even
  those take minutes (greedy phases, GANs, DCGAN on 10,000 images, one pretraining seed),
  so that the whole chapter takes under 10 minutes on 2 CPU cores (greedy layer-wise
  training keeps the book's budget: its SGD phases are quick). Values that come from
  cut budgets are marked in the report.
- "smoke": tiny digits runs of every section in seconds: checks the pipeline, not quality.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LOSS, ACC = "val loss", "val rounded acc"
PROFILES = ("full", "quick", "smoke")


@dataclass(frozen=True)
class Section:
    """One part of the chapter.

    key: folder name under the chapter's output; title: the book's section title.
    model/recipe: what the full profile trains; quick_recipe/quick: the quick profile's
        recipe and extra `--set` overrides (budget cuts make `cut` true).
    book: (metric, book value) rows of the "book vs ours" table.
    extras: measurements and figures after training ("pca", "map", "top_activations",
        "samples", "interpolate", "sample_metrics", "arithmetic", "growth", "style_mix");
        kind: "train", "pretrain" or "greedy". note: text shown under the section.
    figures: globs (under the run's figures/) shown in the chapter report.
    """

    key: str
    title: str
    model: str = ""
    recipe: str = "book"
    quick_recipe: str = "fast"
    quick: tuple[str, ...] = ()
    cut: bool = False
    overrides: tuple[str, ...] = ()
    book: tuple[tuple[str, str], ...] = ()
    extras: tuple[str, ...] = ()
    kind: str = "train"
    figures: tuple[str, ...] = ("reconstructions.png",)
    note: str = ""
    after: tuple[str, ...] = field(default=())


_GAN_QUICK = ("train.epochs=3",)
_GAN_FIGURES = ("generated.png", "learning_curves.png")
# ProGAN: half the fast recipe's channels (64 up to 8x8, 32 at 16x16, 16 at 32x32), 800
# images per fade and per stabilisation (fast: 30,000), 4x4 to 32x32 in 5,600 images = two
# epochs of 2,800, G averaged with decay 0.99 (0.999 barely leaves the initial weights in
# ~150 steps). StyleGAN: one epoch of 2,000 images. Measured: 70 s and 65 s.
_PROGAN_QUICK = ("model.fmap_base=512", "model.fmap_max=64", "model.fade_images=800",
                 "model.stable_images=800", "train.ema_decay=0.99", "data.limit_train=2800",
                 "train.epochs=2")
_STYLEGAN_QUICK = ("data.limit_train=2000", "train.epochs=1")

SECTIONS: tuple[Section, ...] = (
    Section("pca", "Performing PCA with an undercomplete linear autoencoder (fig. 17-2)",
            "linear_ae", book=(("angle to PCA plane (deg)", "0 (same plane)"),),
            extras=("pca",), figures=("codings_2d.png",)),
    Section("stacked", "Stacked autoencoders (fig. 17-4) and visualising Fashion-MNIST "
            "(fig. 17-5)", "stacked_ae",
            book=((LOSS, "0.2835-0.2842"), (ACC, "0.9366-0.9370")),
            extras=("map", "top_activations"),
            figures=("reconstructions.png", "latent_map_*.png", "top_activations.png")),
    Section("pretraining", "Unsupervised pretraining using stacked autoencoders",
            kind="pretrain", after=("stacked",), figures=(),
            book=(("scratch acc (500 labels)", "0.74-0.78"), ("frozen encoder acc", "0.72"),
                  ("fine-tuned acc", "0.78-0.79"))),
    Section("tied", "Tying weights", "tied_ae", book=((LOSS, "0.2844"), (ACC, "0.9325"))),
    Section("greedy", "Training one autoencoder at a time (greedy layer-wise)", kind="greedy",
            figures=(),
            book=(("phase 1 val loss", "0.2783"), ("phase 2 val MSE", "0.1952"),
                  ("stack val loss", "0.2871"), ("stack val rounded acc", "0.9356"))),
    Section("conv", "Convolutional autoencoders", "conv_ae",
            book=((LOSS, "0.2671"), (ACC, "0.9509"))),
    Section("recurrent", "Recurrent autoencoders", "recurrent_ae",
            book=((LOSS, "0.3224"), (ACC, "0.8992"))),
    Section("denoising", "Denoising autoencoders: Gaussian noise (fig. 17-9)", "denoising_ae",
            book=((LOSS, "0.2906-0.2918"), (ACC, "0.927-0.930"))),
    Section("denoising_dropout", "Denoising autoencoders: dropout", "denoising_ae",
            recipe="book_dropout",
            quick=("model.corruption=dropout", "model.corruption_rate=0.5"),
            book=((LOSS, "0.2959"), (ACC, "0.9238"))),
    Section("sigmoid_codings", "Sparse autoencoders: plain, 30 sigmoid codings", "stacked_ae",
            recipe="book_sigmoid_codings", quick=("model.coding_activation=sigmoid",),
            book=((LOSS, "0.3098"), (ACC, "0.9118"))),
    Section("sparse_l1", "Sparse autoencoders: L1 on 300 codings (figs. 17-10, 17-11)",
            "sparse_ae", book=((LOSS, "0.3210"), (ACC, "0.9082")),
            figures=("reconstructions.png", "activation_histograms.png",
                     "sparsity_losses.png")),
    Section("sparse_kl", "Sparse autoencoders: KL divergence", "sparse_ae", recipe="book_kl",
            # Keras divides the KL by the batch size, in evaluate() too: batch 32 keeps
            # the penalty and the validation loss comparable with the book's.
            quick=("model.sparsity=kl", "model.sparsity_weight=0.05",
                   "model.sparsity_target=0.1", "train.batch_size=32",
                   "train.eval_batch_size=32"),
            book=((LOSS, "0.3054"), (ACC, "0.9169")),
            figures=("reconstructions.png", "activation_histograms.png")),
    Section("vae", "Variational autoencoders: generating images (fig. 17-12) and semantic "
            "interpolation (fig. 17-13)", "vae",
            book=((LOSS, "0.3142-0.3158"), (ACC, "0.921")),
            extras=("samples", "interpolate", "sample_metrics", "arithmetic"),
            figures=("reconstructions.png", "generated.png", "interpolation_grid.png",
                     "arithmetic.png")),
    Section("hashing", "Semantic hashing (exercise): binary codings", "hashing_ae",
            figures=("reconstructions.png", "hash_grid.png")),
    Section("gan", "Generative adversarial networks (fig. 17-16)", "gan", quick=_GAN_QUICK,
            cut=True, extras=("samples", "sample_metrics"), figures=_GAN_FIGURES),
    Section("gan_replay", "Mode collapse: experience replay", "gan", quick=_GAN_QUICK,
            cut=True, overrides=("model.replay_fraction=0.5",),
            extras=("samples", "sample_metrics"), figures=_GAN_FIGURES),
    Section("gan_minibatch", "Mode collapse: minibatch discrimination", "gan",
            quick=_GAN_QUICK, cut=True, overrides=("model.minibatch_kernels=100",),
            extras=("samples", "sample_metrics"), figures=_GAN_FIGURES),
    Section("dcgan", "Deep convolutional GANs (fig. 17-17)", "dcgan",
            quick=("data.limit_train=10000",), cut=True,
            extras=("samples", "sample_metrics", "arithmetic"),
            figures=(*_GAN_FIGURES, "arithmetic.png")),
    Section("progan", "Progressive growing of GANs (ProGAN)", "progan",
            quick=_PROGAN_QUICK, cut=True, extras=("samples", "growth", "sample_metrics"),
            figures=("generated.png", "growth.png", "learning_curves.png"),
            note="The book describes ProGAN without code. The growth figure shows G's "
            "samples at the end of each growth phase (4x4, 8x8, ... up to the data's size) "
            "for the same codings; Fashion-MNIST is zero-padded to 32x32 and the sample "
            "metrics crop the samples back to 28x28 for the shipped feature network."),
    Section("stylegan", "StyleGANs: style mixing (the StyleGAN paper's fig. 3)", "stylegan",
            quick=_STYLEGAN_QUICK, cut=True,
            extras=("samples", "style_mix", "sample_metrics"),
            figures=("generated.png", "style_mix.png", "learning_curves.png"),
            note="The book describes StyleGAN without code. The style-mixing figure copies "
            "source B's styles (w) into source A's at the coarse, middle and fine layers, "
            "as in the StyleGAN paper's figure 3."),

)
