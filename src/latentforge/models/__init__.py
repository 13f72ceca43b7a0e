"""Built-in models; importing this package registers them all."""
from latentforge.models import autoencoders  # noqa: F401
