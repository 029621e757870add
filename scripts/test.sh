#!/usr/bin/env bash
# Installs what is missing, builds, then lints, typechecks and runs every test.
set -euo pipefail
# shellcheck source=lib/setup.sh
. "$(dirname "$0")/lib/setup.sh"
coderunner_setup

say "linting"
pnpm --silent lint
say "typechecking"
pnpm --silent typecheck
say "checking the deployment files"
bash "$CODERUNNER_ROOT/scripts/check-deploy.sh"
say "chaos suite (short): faults under load, nothing lost"
node "$CODERUNNER_ROOT/scripts/chaos.mjs" --short
say "burst (short): a full work queue pushes back, nothing lost"
node "$CODERUNNER_ROOT/scripts/burst.mjs" --short
say "benchmarks, short (a smoke test: not judged on speed)"
node "$CODERUNNER_ROOT/scripts/bench/sandbox.mjs" --short >/dev/null
node "$CODERUNNER_ROOT/scripts/bench/e2e.mjs" --short >/dev/null
say "testing"
pnpm --silent test:all
