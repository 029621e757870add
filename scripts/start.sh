#!/usr/bin/env bash
# Installs what is missing, builds, and starts Coderunner on an embedded default.
set -euo pipefail
# shellcheck source=lib/setup.sh
. "$(dirname "$0")/lib/setup.sh"
coderunner_setup

echo "Built: the protocol package. Not built yet: the worker, so there is no service to start." >&2
exit 1
