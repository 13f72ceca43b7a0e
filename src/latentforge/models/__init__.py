"""Built-in models; importing this package imports every module in it, and the model
modules register their models (`registry.register`), so a new model is one new module."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
