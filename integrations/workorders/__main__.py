"""``python -m integrations.workorders <command>``: see ``cli``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
