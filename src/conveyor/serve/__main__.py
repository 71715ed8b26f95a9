"""`python -m conveyor.serve` (or `conveyor-serve`): check the model files, then serve.

The model and signature are checked in this process first, so a broken deployment fails at
once with one clear line instead of every worker crashing in turn.
"""

from __future__ import annotations

import logging.config
import sys

import uvicorn

from conveyor.serve.app import create_app
from conveyor.serve.logs import log_config
from conveyor.serve.settings import ServeSettings, SettingsError
from conveyor.serve.signature import SignatureError


def main() -> int:
    """2 with one line on stderr for a deployment that cannot work, else serve until stopped."""
    try:
        settings = ServeSettings.from_environment()
        app = create_app(settings)
    except (SettingsError, SignatureError) as error:
        print(f"conveyor-serve: refusing to start: {error}", file=sys.stderr)
        return 2
    config = log_config(settings.log_level)
    logging.config.dictConfig(config)
    target: object = app
    if settings.workers > 1:  # workers re-create the app from the same environment
        target = "conveyor.serve.app:create_app_from_environment"
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=settings.workers > 1,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=config,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
