#!/usr/bin/env bash
# Start the serving image, wait for /health, post one record built from
# models/signature.json, check the answer, and always stop and remove the container.
#   scripts/smoke-test.sh IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:?usage: scripts/smoke-test.sh IMAGE}
tool=${CONTAINER_ENGINE:-$(scripts/container.sh engine)}
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/.tools/containers.conf}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name="conveyor-smoke-$$"

cleanup() { "$tool" rm --force "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$tool" run --detach --name "$name" --publish "127.0.0.1:${port}:8080" "$image" >/dev/null
for _ in $(seq 1 120); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}/health', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

python3 - "$port" <<'PY'
import json
import sys
import urllib.request

port = sys.argv[1]
signature = json.load(open("models/signature.json"))
record = {
    f["name"]: (signature["reference"][f["name"]]["mean"] if f["type"] == "number" else f["categories"][0])
    for f in signature["inputs"]
}
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/predict",
    data=json.dumps([record, record]).encode(),
    headers={"Content-Type": "application/json"},
)
reply = json.load(urllib.request.urlopen(request, timeout=10))
predictions = reply["predictions"]
assert len(predictions) == 2, reply
assert predictions[0]["label"] in signature["output"]["classes"], reply
assert 0.0 <= predictions[0]["probability"] <= 1.0, reply
print(f"smoke test passed: {predictions[0]} from model {reply['model_version']}")
PY
"$tool" stop --time 10 "$name" >/dev/null
