"""moto's server with the local stack's extensions: `moto_server` plus RedriveExecution.

Run with the venv's Python and moto_server's own arguments, e.g.
`.venv/bin/python local/moto_server.py -H 127.0.0.1 -p 5000`; what moto_server does
(`moto.server.main`) follows once `moto_redrive.install()` has patched moto's Step
Functions (see local/moto_redrive/).
"""

import sys

# Nothing of ours is cached beside the sources (local/moto_redrive/__pycache__).
sys.dont_write_bytecode = True

import moto_redrive  # noqa: E402  (this file's folder is first on sys.path)
from moto.server import main  # noqa: E402

if __name__ == "__main__":
    moto_redrive.install()
    print("moto_redrive: RedriveExecution installed", file=sys.stderr, flush=True)
    sys.exit(main())
