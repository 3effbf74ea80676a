"""`python -m engine`: the command line of engine/cli/.

Ctrl+C is one line and exit status 130 from the first instant: while the command line's modules (torch among them)
import, nothing has been written yet, so an interrupt there ends the process at once; after that, `main` handles it.
"""

import os
import signal
import sys

EXIT_CANCELLED = 130


def _interrupted_while_importing(signum, frame) -> None:
    sys.stderr.write("cancelled; no output written\n")
    sys.stderr.flush()
    os._exit(EXIT_CANCELLED)


signal.signal(signal.SIGINT, _interrupted_while_importing)
from .cli import main  # noqa: E402 - the handler above must be in place before the imports start

signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(main())
