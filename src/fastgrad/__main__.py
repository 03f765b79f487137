"""``python -m fastgrad ...``: the same command line as the ``fastgrad`` script."""
import sys

from fastgrad.cli import main

sys.exit(main())
