"""The build-push stand-in's image: an index whose bytes depend on the build's arguments, so
two commits make two digests. With `outputs: type=oci,dest=PATH` it is written as an OCI
archive (index.json naming one blob), as buildx's OCI exporter does; prints `digest=...`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile


def main() -> None:
    build = {key: os.environ.get(key, "") for key in ("BUILD_ARGS", "TAGS", "SBOM", "PROVENANCE")}
    manifest = json.dumps(
        {"mediaType": "application/vnd.oci.image.index.v1+json", "schemaVersion": 2,
         "annotations": {"standin.build": hashlib.sha256(json.dumps(build).encode()).hexdigest()}},
        sort_keys=True,
    ).encode()  # fmt: skip
    digest = hashlib.sha256(manifest).hexdigest()
    options = dict(
        part.split("=", 1) for part in os.environ.get("OUTPUTS", "").split(",") if "=" in part
    )
    if options.get("type") == "oci":
        index = json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json",
             "digest": f"sha256:{digest}", "size": len(manifest)}]}).encode()  # fmt: skip
        with tarfile.open(options["dest"], "w") as tar:
            for name, data in (
                ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                ("index.json", index),
                (f"blobs/sha256/{digest}", manifest),
            ):
                entry = tarfile.TarInfo(name)
                entry.size = len(data)
                tar.addfile(entry, io.BytesIO(data))
    print(f"digest=sha256:{digest}")


if __name__ == "__main__":
    main()
