"""``python -m fastgrad ...``: the same command line as the ``fastgrad`` script."""
import sys

from fastgrad.cli import main

if __name__ == "__main__":
    sys.exit(main())
