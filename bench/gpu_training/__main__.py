"""``python -m bench.gpu_training``: the check (``--worker SPEC``: one row, in its own process)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from bench.gpu_training.check import main

if len(sys.argv) == 3 and sys.argv[1] == "--worker":
    from bench.gpu_training.worker import worker

    spec_path = Path(sys.argv[2])
    with contextlib.redirect_stdout(sys.stderr):
        result = worker(json.loads(spec_path.read_text()))
    Path(f"{spec_path}.out").write_text(json.dumps(result))
else:
    raise SystemExit(main())
