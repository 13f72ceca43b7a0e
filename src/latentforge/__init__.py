"""latentforge: autoencoders and GANs of Hands-On ML chapter 17, on PyTorch.

Public API (everything else is internal)::

    train(model, recipe="book", overrides=(), run_dir=None, resume=False) -> Run
        (run_dir=False trains in memory and writes no file)
    load_run(path) -> Run
    tasks          the use cases on a run: evaluate_run, score_anomalies, search, ...
    build_config(model, recipe="book", file=None, overrides=()) -> RunConfig
    available_models() -> list of registered model names
    AutoencoderTransformer(model="stacked_ae", ...)  # scikit-learn transformer (codings)
"""
__version__ = "0.1.0"

__all__ = ["AutoencoderTransformer", "Run", "RunConfig", "build_config", "available_models",
           "load_run", "tasks", "train", "__version__"]


def __getattr__(name):  # lazy: `import latentforge` stays light (no torch until needed)
    if name in ("Run", "train", "load_run"):
        from latentforge import api

        return getattr(api, name)
    if name in ("RunConfig", "build_config"):
        from latentforge import config

        return getattr(config, name)
    if name == "AutoencoderTransformer":
        from latentforge.estimator import AutoencoderTransformer

        return AutoencoderTransformer
    if name == "tasks":
        import latentforge.tasks

        return latentforge.tasks
    if name == "available_models":
        from latentforge.registry import names

        return names
    raise AttributeError(f"module 'latentforge' has no attribute '{name}'")
