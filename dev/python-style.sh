#!/usr/bin/env bash
# The Python side's style check, as `prettier --check` is the TypeScript side's: every Python
# file is as black formats it (pyproject.toml: 110 columns, like .prettierrc.json), and no line
# is longer than 110 characters, which black leaves to people for strings and comments.
#
#   bash dev/python-style.sh           # check (npm run lint)
#   bash dev/python-style.sh --write   # format (npm run format)
set -euo pipefail
cd "$(dirname "$0")/.."
max=110

if ! command -v black >/dev/null 2>&1; then
  echo "python-style: black is not installed: sudo apt-get install -y black (npm test installs it when run as root)" >&2
  exit 1
fi

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.py')
if [ "${1:-}" = "--write" ]; then
  black --quiet -- "${files[@]}"
else
  if ! black --check --quiet -- "${files[@]}" 2>/dev/null; then
    black --check -- "${files[@]}" 2>&1 | grep '^would reformat' >&2 || true
    echo "python-style: these files are not as black formats them; fix with: npm run format" >&2
    exit 1
  fi
fi

long=$(python3 - "$max" "${files[@]}" <<'PY'
import sys
limit = int(sys.argv[1])
for name in sys.argv[2:]:
    with open(name, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            width = len(line.rstrip("\n"))
            if width > limit:
                print(f"{name}:{number}: {width} characters (at most {limit})")
PY
)
if [ -n "$long" ]; then
  printf '%s\n' "$long" >&2
  echo "python-style: split these lines (black does not split strings or comments)" >&2
  exit 1
fi
