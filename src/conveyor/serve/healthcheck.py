"""`python -m conveyor.serve.healthcheck`: exit 0 when the local server answers /health.

The image's HEALTHCHECK runs this, so it follows CONVEYOR_PORT and needs no curl in the image.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("CONVEYOR_PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
