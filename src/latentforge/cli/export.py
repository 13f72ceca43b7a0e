"""`latentforge export RUN --format onnx`: a run's encoder / decoder / generator as ONNX
graphs with model.json describing them (`latentforge.tasks.export`)."""
from __future__ import annotations


def add_export(add) -> None:
    p = add("export", help="write a run's encoder, decoder and generator (what the model "
            "has) as ONNX graphs with a dynamic batch axis, and model.json describing their "
            "inputs and outputs (needs: pip install 'latentforge[onnx]')")
    p.add_argument("run", help="run directory")
    p.add_argument("--format", default="onnx", help="output format: onnx (the default and "
                   "only one)")
    p.add_argument("--out", help="output folder (default RUN/onnx); absent, empty or an "
                   "earlier export")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="stylegan: the generator's truncation psi (default 1: none)")
    p.add_argument("--exporter", default="auto", help="auto (the default: torch's dynamo "
                   "exporter, the legacy torchscript one where dynamo cannot), dynamo, or "
                   "torchscript (10-100x faster; deprecated by torch)")


def cmd_export(args) -> int:
    from latentforge import api
    from latentforge.tasks.export import (check_options, check_out_dir, export_run,
                                          require_onnx)

    check_options(args.format, args.exporter)  # refused before the run is loaded
    require_onnx()
    if args.out:
        check_out_dir(args.out)
    result = export_run(api.load_run(args.run), args.format, args.out, args.truncation,
                        args.exporter)
    for part, path in result.files.items():
        info = result.info["parts"][part]
        print(f"wrote {path} ({part}, {info['exporter']} exporter, largest difference from "
              f"PyTorch {info['max_abs_diff']:.1g})")
    print(f"wrote {result.manifest}")
    return 0


COMMANDS = {"export": cmd_export}
