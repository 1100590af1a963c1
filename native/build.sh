#!/usr/bin/env bash
# Builds native/sandbox_kernel.c into lambda/sandbox/native/<arch>/_sandbox_kernel.abi3.so
# for x86_64 (local runs, tests) and aarch64 (the deployed function), reproducibly: the same
# source, compiler and headers give the same bytes, which tests/lambda/native.test.ts checks
# against the committed files.
#
#   bash native/build.sh            # both architectures
#   bash native/build.sh x86_64     # one
#
# Needs gcc, gcc-aarch64-linux-gnu (Debian: apt-get install gcc gcc-aarch64-linux-gnu) and the
# headers of any CPython 3.11+ (the stable ABI's headers are the same for every architecture
# that matters here: 64-bit little-endian Linux). OUT_DIR overrides the output root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out_root=${OUT_DIR:-$here/../lambda/sandbox/native}
python=${PYTHON:-python3}
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || { echo "build.sh: no Python.h under $include (install python3-dev)" >&2; exit 1; }

compiler_for() {
  case "$1" in
    x86_64) if [ "$(uname -m)" = x86_64 ]; then echo gcc; else echo x86_64-linux-gnu-gcc; fi ;;
    aarch64) if [ "$(uname -m)" = aarch64 ]; then echo gcc; else echo aarch64-linux-gnu-gcc; fi ;;
    *) echo "build.sh: unknown architecture $1 (x86_64 or aarch64)" >&2; exit 2 ;;
  esac
}

build() {
  local arch=$1 cc
  cc=$(compiler_for "$arch")
  command -v "$cc" >/dev/null || { echo "build.sh: $cc not found (apt-get install gcc-${arch/_/-}-linux-gnu)" >&2; exit 1; }
  mkdir -p "$out_root/$arch"
  # Reproducible: no build id, no paths of this machine, stripped, fixed flags.
  "$cc" -O2 -fPIC -shared -fno-ident -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror \
    -Wno-unused-parameter -ffile-prefix-map="$here"=. -I"$include" \
    -Wl,--build-id=none -Wl,-z,relro,-z,now -Wl,-s -Wl,--hash-style=gnu \
    -o "$out_root/$arch/_sandbox_kernel.abi3.so" "$here/sandbox_kernel.c"
  echo "built $out_root/$arch/_sandbox_kernel.abi3.so"
}

if [ $# -eq 0 ]; then set -- x86_64 aarch64; fi
for arch in "$@"; do build "$arch"; done
