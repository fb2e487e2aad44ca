"""``python -m graphkd``: the ``graphkd`` command."""

import sys

from graphkd.cli import main

if __name__ == "__main__":
    sys.exit(main())
