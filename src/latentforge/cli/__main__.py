"""``python -m latentforge.cli``: the `latentforge` command."""
import sys

from latentforge.cli.main import main

sys.exit(main())
