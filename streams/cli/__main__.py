"""``python -m streams.cli`` is ``cityops``."""

import sys

from streams.cli import main

sys.exit(main())
