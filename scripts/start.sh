#!/usr/bin/env bash
# Installs what is missing, builds, and runs Coderunner on an embedded default (`coderunner dev`):
# a local nats-server with JetStream (unless RUNNER_NATS_URL points elsewhere), a worker, and a
# sample submission in every installed language. Ctrl-C stops the worker, then the server.
set -euo pipefail
# shellcheck source=lib/setup.sh
. "$(dirname "$0")/lib/setup.sh"
coderunner_setup

# The worker's node options (packages/worker/src/node-options.ts).
exec node --single-threaded-gc "$CODERUNNER_ROOT/packages/client/dist/cli/main.js" dev
