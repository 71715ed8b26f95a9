"""The attest stand-in's record of an attestation: digest -> {repo, workflow, ref}."""

from __future__ import annotations

import sys

# Run as a script beside record.py (its folder is on sys.path), not as a package module.
from record import load_json, save_json  # type: ignore[import-not-found]


def main(digest: str, repo: str, workflow: str, ref: str) -> None:
    made = load_json("attestations.json", {})
    made.setdefault(digest, []).append({"repo": repo, "workflow": workflow, "ref": ref})
    save_json("attestations.json", made)


if __name__ == "__main__":
    main(*sys.argv[1:5])
