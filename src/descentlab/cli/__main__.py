"""``python -m descentlab.cli``: the same as ``python -m descentlab`` and the ``descentlab`` script."""

import sys

from descentlab.cli import main

if __name__ == "__main__":  # imported (by a walk over cli/'s modules, say), it runs nothing
    sys.exit(main())
