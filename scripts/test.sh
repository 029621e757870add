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
say "testing"
pnpm --silent test:all
