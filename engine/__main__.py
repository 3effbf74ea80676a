"""`python -m engine`: the command line of engine/cli/."""

import sys

from .cli import main

sys.exit(main())
