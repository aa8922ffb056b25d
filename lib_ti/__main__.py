"""Entry point for ``python -m lib_ti``."""

import sys

from .cli import main

sys.exit(main())
