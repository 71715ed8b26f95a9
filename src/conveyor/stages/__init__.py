"""The pipeline stages: the edges where files are read and written.

One module per stage, each with a `run(settings, paths)` that reads its inputs, calls the pure
functions of the core modules, and publishes all of its outputs at once (`staged_outputs`), so
a failure leaves the previous outputs or none, never a half-written file. DVC calls them
through `conveyor <stage>`; a stage module imports only what its stage uses, so the `deps` of
each stage in `dvc.yaml` can list exactly the code it runs (a test checks that they do).
"""

STAGES = ("prepare", "train", "evaluate", "export")
