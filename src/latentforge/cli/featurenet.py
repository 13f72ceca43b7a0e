"""`latentforge featurenet train`: a feature network (the small CNN classifier whose
features the sample metrics use) for any labelled image data (`tasks.train_featurenet`)."""
from __future__ import annotations

import argparse


def add_featurenet(add) -> None:
    p = add("featurenet", help="train a feature network (a small CNN classifier) on labelled "
            "images, for FID/KID/precision/recall/class coverage on that data "
            "(evaluate --feature-net)")
    p.add_argument("action", choices=["train"], help="train: train one and write its file")
    p.add_argument("--data", required=True, metavar="SRC", help="labelled image data: "
                   "fashion-mnist, mnist, cifar10, digits, a folder with one subfolder per "
                   "class, or an .npz with labels")
    p.add_argument("--out", metavar="FILE", help="the .safetensors to write (default "
                   "featurenet-NAME.safetensors in the current folder)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, shuffling and "
                   "flips (0)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (128)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate, decayed by a "
                   "cosine schedule (0.002)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips (default: on for fashion-mnist and cifar10, "
                   "off otherwise)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="data.KEY=VALUE", help="data option, e.g. --set data.pad_to=32 "
                   "(repeatable)")


def cmd_featurenet(args) -> int:
    from latentforge.tasks.featurenet import train_featurenet

    meta = train_featurenet(args.data, args.out, args.epochs, args.seed, args.overrides,
                            args.batch_size, args.lr, args.flip,
                            progress=lambda line: print(line, flush=True))
    test = meta["test_accuracy"]
    shown = "-" if test is None else f"{test:.4f}"
    print(f"wrote {meta['out']}: input {tuple(meta['input_shape'])}, {meta['n_classes']} "
          f"classes, test accuracy {shown}, {meta['train_seconds']} s")
    print(f"use it: latentforge evaluate RUN --feature-net {meta['out']}")
    return 0


COMMANDS = {"featurenet": cmd_featurenet}
