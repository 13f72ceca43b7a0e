"""Built-in models; importing this package registers them all."""
from latentforge.models import autoencoders  # noqa: F401
from latentforge.models import conv  # noqa: F401
from latentforge.models import recurrent  # noqa: F401
from latentforge.models import vae  # noqa: F401
from latentforge.models import gan  # noqa: F401
