#!/usr/bin/env bash
# Makes sure the machine has what the test suite starts for real: CPython 3.11+ (the
# sandbox), moto_server (AWS control plane), Debian's chromium (the chat page test), Debian's
# black (the Python formatter `npm run lint` checks lambda/ with), strace
# (the kernel filter's syscall measurement), the aarch64 cross compiler (the native helper's
# reproducible build) and an unprivileged account to run the sandbox as, the way Lambda does.
# As root it installs and creates them itself; otherwise it says in one line what to run.
set -euo pipefail

missing=0
say() { printf 'ensure-test-deps: %s\n' "$*" >&2; }

if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  say "python3 3.11 or later is required for the sandbox tests: apt-get install python3"
  missing=1
fi

# moto_server is used from PATH, else from the project-local .venv; when neither has it, it is
# installed into .venv (python3 -m venv .venv && .venv/bin/pip install 'moto[server]'), since
# Debian 12 refuses `pip install` into the system Python (externally-managed-environment).
# That needs PyPI: offline, it says in one line what to run where PyPI is reachable.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
moto_fix="python3 -m venv .venv && .venv/bin/pip install 'moto[server]'  (or: pipx install 'moto[server]')"
if ! command -v moto_server >/dev/null 2>&1 && [ ! -x "$venv/bin/moto_server" ]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's python3-venv to create .venv (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null) || true
  fi
  say "moto_server is not installed: installing moto[server] into $venv (first run only, about a minute)..."
  if python3 -m venv "$venv" >/dev/null 2>&1 &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]' >&2 &&
    [ -x "$venv/bin/moto_server" ]; then
    say "moto_server installed in .venv"
  else
    say "could not install moto_server into .venv (no PyPI access?); run where PyPI is reachable: $moto_fix"
    missing=1
  fi
fi

# A Debian package the tests cannot do without: installed as root, else the one line to run.
require_package() {
  local command=$1 package=$2 purpose=$3
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's $package for $purpose (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null) ||
      { say "could not install $package: run 'sudo apt-get update && sudo apt-get install -y $package'"; missing=1; }
  else
    say "$package is required for $purpose: sudo apt-get update && sudo apt-get install -y $package"
    missing=1
  fi
}

require_package chromium chromium "the browser tests"
# The Python side's formatter, as Prettier is the TypeScript side's: Debian's package, so every
# machine checks with the same version (bookworm: 23.1).
require_package black black "the Python style check (npm run lint)"

apt_packages=()
command -v strace >/dev/null 2>&1 || apt_packages+=(strace)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || apt_packages+=(gcc-aarch64-linux-gnu)
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${apt_packages[*]} for the sandbox tests (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null) ||
      say "could not install ${apt_packages[*]}: the tests that need them say so and are skipped"
  else
    say "optional for the sandbox tests: sudo apt-get install -y ${apt_packages[*]} (their tests are skipped without them)"
  fi
fi

# Lambda runs the function as an unprivileged user, so the sandbox tests also run as one.
sandbox_user=co-intelligence-sandbox
if [ "$(id -u)" = 0 ]; then
  id -u "$sandbox_user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$sandbox_user"
  # pyenv's Pythons live under /root: let the account reach them (search permission only).
  if [ -d /root/.pyenv ]; then chmod o+x /root; fi
fi

exit "$missing"
