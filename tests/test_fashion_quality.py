"""Real check on Fashion-MNIST: the stacked autoencoder's book recipe reaches the book's
numbers (docs/book-reference.md: val BCE 0.2835-0.2842, val rounded accuracy 0.9366-0.9370).

About 30 s on 2 cores. Seeds 1-3 gave val BCE 0.2830-0.2841 and rounded accuracy
0.9359-0.9375 on this machine; the bounds below are the project's acceptance bounds.
"""
from pathlib import Path

import pytest

import latentforge as lf

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_stacked_ae_book_recipe_reaches_book_numbers(tmp_path):
    run = lf.train("stacked_ae", "book", overrides=["train.progress=false"],
                   run_dir=tmp_path / "stacked")
    final = run.history[-1]
    assert final["epoch"] == 20
    assert final["val_loss"] <= 0.2845
    assert final["val_rounded_accuracy"] >= 0.936
    reloaded = lf.load_run(tmp_path / "stacked")
    again = reloaded.evaluate("valid")
    assert abs(again["loss"] - final["val_loss"]) < 1e-6
    test = reloaded.evaluate("test")
    assert test["loss"] < 0.29 and test["rounded_accuracy"] > 0.93


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_stacked_ae_fast_recipe_reaches_book_quality(tmp_path):
    run = lf.train("stacked_ae", "fast", overrides=["train.progress=false"],
                   run_dir=tmp_path / "fast")
    final = run.history[-1]
    assert final["epoch"] == 4
    assert final["val_loss"] <= 0.2845
    assert final["val_rounded_accuracy"] >= 0.936


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_conv_ae_fast_recipe_reaches_book_conv_quality(tmp_path):
    """Book conv AE (5 epochs SGD): val BCE 0.2671, rounded accuracy 0.9509."""
    run = lf.train("conv_ae", "fast", overrides=["train.progress=false"],
                   run_dir=tmp_path / "conv")
    final = run.history[-1]
    assert final["epoch"] == 3
    assert final["val_loss"] <= 0.2671 + 0.003
    assert final["val_rounded_accuracy"] >= 0.95
    # Similarity search: same-class share of the 10 nearest train items over 1,000 test
    # queries (measured 0.8077 euclidean, 0.8124 cosine).
    from latentforge.evaluation.search import retrieval_precision, split_codings

    db = split_codings(run, "train")
    cosine = retrieval_precision(run, metric="cosine", db=db)["precision_at_k"]
    euclidean = retrieval_precision(run, db=db)["precision_at_k"]
    assert cosine >= 0.80 and euclidean >= 0.795, (cosine, euclidean)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_one_class_conv_ae_knn_beats_pixels_on_t_shirts(tmp_path):
    """One-class protocol, normal class 0 (T-shirt/top), one seed (~40 s). Measured over
    seeds 0-2: knn 0.9386-0.9407, reconstruction 0.8477-0.8497, raw-pixel knn 0.9178."""
    from latentforge.evaluation.one_class import run_protocol

    result = run_protocol("conv_ae", "fast", classes=[0], seeds=[0],
                          overrides=["train.epochs=20", "train.progress=false"],
                          runs_dir=tmp_path)
    auroc = {score: values[0][0] for score, values in result["auroc"].items()}
    assert auroc["knn"] >= 0.93, auroc
    assert auroc["reconstruction"] >= 0.83, auroc
    assert auroc["knn"] > auroc["pixel_knn"] + 0.01, auroc


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_recurrent_ae_fast_recipe_beats_book_recurrent(tmp_path):
    """Book recurrent AE (10 epochs SGD): val BCE 0.3224, rounded accuracy 0.8992."""
    run = lf.train("recurrent_ae", "fast", overrides=["train.progress=false"],
                   run_dir=tmp_path / "rnn")
    final = run.history[-1]
    assert final["epoch"] == 4
    assert final["val_loss"] <= 0.3224
    assert final["val_rounded_accuracy"] >= 0.8992


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_pretraining_with_500_labels_beats_scratch(tmp_path):
    """sparse_ae book_kl (KL sparsity, 300 sigmoid codings), then the default
    pretrain-classifier recipe with 500 labels, seeds 0-2: the best pretrained variant beats
    the same network trained from scratch by at least 3 points of validation accuracy
    (measured: scratch 0.722, frozen 0.761, fine-tuned 0.783)."""
    from latentforge.evaluation.pretrain import pretrain_classifier

    run = lf.train("sparse_ae", "book_kl", overrides=["train.progress=false"],
                   run_dir=tmp_path / "sparse")
    result = pretrain_classifier(lf.load_run(tmp_path / "sparse"), 500, seeds=[0, 1, 2])
    assert run.history[-1]["val_loss"] <= 0.3054 + 0.003
    assert result.gain >= 0.03, result.table()
    assert result.mean("finetuned") >= 0.76


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_vae_fast_recipe_reaches_book_vae_loss(tmp_path):
    """Book VAE (25 epochs RMSprop): val loss 0.3142-0.3158 (mean-pixel BCE + KL/784); the
    fast recipe measured 0.3140-0.3149 over seeds 42, 1, 2, 3. Its test ELBO / IWAE NLL are
    consistent (IWAE's NLL below -ELBO), and its samples score as measured."""
    from latentforge.evaluation.likelihood import likelihood_report

    run = lf.train("vae", "fast", overrides=["train.progress=false"], run_dir=tmp_path / "vae")
    final = run.history[-1]
    assert final["val_loss"] <= 0.3160
    loaded = lf.load_run(tmp_path / "vae")
    report = likelihood_report(loaded, "test", k=20, limit=2000)
    assert report["iwae_nll_nats"] < report["neg_elbo_nats"] < 784 * 0.33
    # Samples on the shipped feature network (measured with 2,000 samples: FID 112.0,
    # precision 0.805, 9 classes >= 5%; 10,000 training images give FID 0.3).
    from latentforge.evaluation.sample_quality import sample_quality

    quality = sample_quality(loaded, 2000)
    assert 60 < quality["fid"] < 140
    assert quality["classes_covered"] >= 8 and quality["precision"] > 0.7
