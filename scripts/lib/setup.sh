#!/usr/bin/env bash
# Shared set-up for start.sh and test.sh: installs what is missing (system packages, pnpm,
# dependencies from the lockfile) and builds. Idempotent; quick when everything is there.
# Source it, then call `coderunner_setup`.

# System packages the toolchains and the sandbox need, as "command:debian-package".
CODERUNNER_SYSTEM_DEPS=(
  "nats-server:nats-server"
  "bwrap:bubblewrap"
  "setpriv:util-linux"
  "gcc:gcc"
  "g++:g++"
  "go:golang-go"
  "/usr/bin/python3:python3"
  "javac:openjdk-17-jdk-headless"
  "java:openjdk-17-jdk-headless"
)

CODERUNNER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

have() {
  case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# The Debian packages whose commands are missing, one per line, without repeats.
missing_packages() {
  local entry
  for entry in "$@"; do
    have "${entry%%:*}" || printf '%s\n' "${entry#*:}"
  done | sort -u
}

install_system_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages "${CODERUNNER_SYSTEM_DEPS[@]}")
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing system packages: ${missing[*]}
run as root:  apt-get update && apt-get install -y ${missing[*]}
then run this script again"
  fi
  have apt-get || die "missing system packages (${missing[*]}) and no apt-get to install them: install them by hand"
  say "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

check_node() {
  have node || die "Node.js 20 or newer is required (node is not on PATH)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js 20 or newer is required, found $(node --version)"
}

install_pnpm() {
  local wanted
  wanted="$(node -p "require('$CODERUNNER_ROOT/package.json').packageManager.split('@')[1]")"
  if have pnpm && [ "$(pnpm --version 2>/dev/null)" = "$wanted" ]; then return 0; fi
  if [ "$(id -u)" -ne 0 ] && [ ! -w "$(npm prefix -g)/lib" ]; then
    die "pnpm $wanted is required; install it with:  npm install -g pnpm@$wanted"
  fi
  say "installing pnpm $wanted"
  npm install -g --silent "pnpm@$wanted" >/dev/null
}

coderunner_setup() {
  cd "$CODERUNNER_ROOT" || exit 1
  install_system_packages
  check_node
  install_pnpm
  say "installing dependencies (frozen lockfile)"
  pnpm install --frozen-lockfile --reporter=silent
  say "building"
  pnpm --silent build
}
