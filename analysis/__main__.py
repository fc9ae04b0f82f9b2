"""``python -m analysis``: the compression study (default: the embedded corpus). See --help."""

import sys

from .cli import main

sys.exit(main())
