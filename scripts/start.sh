#!/usr/bin/env bash
# Installs what is missing, builds, and runs Coderunner on an embedded default: a local
# nats-server with JetStream (unless RUNNER_NATS_URL points elsewhere) and one worker.
# Ctrl-C stops both.
set -euo pipefail
# shellcheck source=lib/setup.sh
. "$(dirname "$0")/lib/setup.sh"
coderunner_setup

data="$CODERUNNER_ROOT/.data"
mkdir -p "$data"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${RUNNER_NATS_URL:-}" ]; then
  if port_in_use 4222; then
    die "port 4222 is taken: another start.sh or nats-server is running. Stop it, or point RUNNER_NATS_URL at it."
  fi
  say "starting nats-server with JetStream (data in .data/nats, monitoring on http://127.0.0.1:8222)"
  nats-server -a 127.0.0.1 -p 4222 -m 8222 -js -sd "$data/nats" >"$data/nats-server.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do port_in_use 4222 && break; sleep 0.1; done
  port_in_use 4222 || die "nats-server did not start; see .data/nats-server.log"
  export RUNNER_NATS_URL=nats://127.0.0.1:4222
fi

sandbox_type="${RUNNER_RUNNER_SANDBOXTYPE:-bwrap}"
if [ "$(id -u)" -ne 0 ] && [ "$sandbox_type" = bwrap ]; then
  say "not root: the bwrap sandbox needs root, so this worker runs programs WITHOUT isolation (direct)"
  sandbox_type=direct
fi
say "starting a worker (sandbox: $sandbox_type, health and metrics on http://127.0.0.1:9090)"
RUNNER_RUNNER_SANDBOXTYPE="$sandbox_type" \
  RUNNER_RUNNER_SANDBOXBASEDIR="${RUNNER_RUNNER_SANDBOXBASEDIR:-$data/sandbox}" \
  RUNNER_RUNNER_MAXCONCURRENTJOBS="${RUNNER_RUNNER_MAXCONCURRENTJOBS:-$(nproc)}" \
  node "$CODERUNNER_ROOT/packages/worker/dist/bin.js" &
pids+=("$!")

cat >&2 <<TXT

Coderunner is serving on $RUNNER_NATS_URL. Publish a submission (JSON, see README.md) to
submission.created with any NATS client; its events arrive on submission.result.<id>.
The coderunner command line is not built yet. Ctrl-C stops the worker and the server.
TXT
wait -n "${pids[@]}"
