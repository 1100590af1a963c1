#!/usr/bin/env bash
# Makes sure the machine has what the test suite starts for real: CPython 3.11+ (the
# sandbox), moto_server (AWS control plane), Debian's chromium (the chat page test).
# As root it installs chromium itself; otherwise it says in one line what to run.
set -euo pipefail

missing=0
say() { printf 'ensure-test-deps: %s\n' "$*" >&2; }

if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  say "python3 3.11 or later is required for the sandbox tests: apt-get install python3"
  missing=1
fi

if ! command -v moto_server >/dev/null 2>&1; then
  say "moto_server is required for the AWS tests: pip install 'moto[server]'"
  missing=1
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      { say "could not install chromium: run 'sudo apt-get update && sudo apt-get install -y chromium'"; missing=1; }
  else
    say "chromium is required for the browser tests: sudo apt-get update && sudo apt-get install -y chromium"
    missing=1
  fi
fi

exit "$missing"
