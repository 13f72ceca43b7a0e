"""``python -m latentforge``: the `latentforge` command (what ``torchrun -m latentforge``
runs in every process)."""
import sys

from latentforge.cli.main import main

sys.exit(main())
