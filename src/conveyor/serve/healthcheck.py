"""`python -m conveyor.serve.healthcheck`: exit 0 when the local server answers /health.

The image's HEALTHCHECK runs this, so the image needs no curl. The port comes from
ServeSettings, the reader the server itself uses, so the two cannot disagree on a default.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Mapping

from conveyor.serve.settings import ServeSettings, SettingsError


def main(environ: Mapping[str, str] | None = None) -> int:
    """0 when /health answers 200; 1 otherwise, as the container runtime expects."""
    try:
        port = ServeSettings.from_environment(environ).port
    except SettingsError as error:  # the server refused these settings too
        print(f"conveyor-healthcheck: {error}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
