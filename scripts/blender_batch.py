"""`blender -b scene.blend -P scripts/blender_batch.py -- ARGS`: the batch entry inside a Blender executable.

Puts the repository on sys.path and runs nst_addon.batch on the already-open file; exits with its status.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nst_addon.batch import main  # noqa: E402 - needs the path above

arguments = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
sys.exit(main(arguments, blend_open=True))
