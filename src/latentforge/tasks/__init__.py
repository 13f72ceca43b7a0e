"""The use cases of the library: plain functions that take a loaded run
(`latentforge.api.Run`, from `load_run` or `train`) and plain arguments, and return plain
results (small dataclasses, arrays, paths). No argparse, no printing: the CLI, the chapter
runner and a server call these.

- evaluate.py: `evaluate_run` (losses, VAE likelihood, sample metrics: what applies)
- codings.py: `encode_split`, `reconstruct`, `hash_summary` / `hash_grid`
- items.py: `load_items` (a folder of images, one image, a data source, a split)
- anomalies.py: `score_anomalies` (threshold, AUROC), `write_anomaly_csv`, `anomaly_figure`
- search.py: `search` (by a query image or an index, precision), `search_figure`
- generate.py: `generate`, `samples_png`, `interpolate`, `interpolation_figure`
- representation.py: `map_codings`, `probe`, `pretrain`
- top_activations.py: `top_activations`, `top_activations_png` (exercise 9)
- arithmetic.py: `latent_arithmetic`, `arithmetic_png` (A - B + C of class mean codings)
- style_mix.py: `style_mix`, `style_mix_png` (stylegan's style-mixing grid)
- protocols.py: `greedy`, `one_class`
- files.py: `save_npy`, `save_json`
"""
from latentforge.tasks.anomalies import (Anomalies, anomaly_figure, score_anomalies,
                                         write_anomaly_csv)
from latentforge.tasks.arithmetic import Arithmetic, arithmetic_png, latent_arithmetic
from latentforge.tasks.codings import (Codings, encode_split, hash_grid, hash_summary,
                                       reconstruct, write_codings)
from latentforge.tasks.evaluate import Evaluation, evaluate_run, write_evaluation
from latentforge.tasks.files import save_json, save_npy
from latentforge.tasks.generate import (Interpolation, generate, interpolate,
                                        interpolation_figure, samples_png)
from latentforge.tasks.items import Items, load_items
from latentforge.tasks.protocols import Greedy, greedy, one_class, write_one_class
from latentforge.tasks.representation import map_codings, pretrain, probe, write_pretrain
from latentforge.tasks.search import SearchResult, search, search_figure
from latentforge.tasks.style_mix import StyleMix, style_mix, style_mix_png
from latentforge.tasks.top_activations import (TopActivations, top_activations,
                                               top_activations_png)

__all__ = ["Arithmetic", "StyleMix", "TopActivations", "arithmetic_png", "latent_arithmetic",
           "style_mix", "style_mix_png", "top_activations", "top_activations_png",
           "Anomalies", "Codings", "Evaluation", "Greedy", "Interpolation", "Items",
           "SearchResult", "anomaly_figure", "encode_split", "evaluate_run", "generate",
           "greedy", "hash_grid", "hash_summary", "interpolate", "interpolation_figure",
           "load_items", "map_codings", "one_class", "pretrain", "probe", "reconstruct",
           "samples_png", "save_json", "save_npy", "score_anomalies", "search",
           "search_figure", "write_anomaly_csv", "write_codings", "write_evaluation",
           "write_one_class", "write_pretrain"]
