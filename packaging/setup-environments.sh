#!/usr/bin/env bash
# Creates the two Python environments the assistant runs in:
#   .venv-rasa  Python 3.10, holding only the Rasa engine (Rasa 3.6 runs on 3.8-3.10 and pins old libraries)
#   .venv       Python 3.11, holding all of the project's own code and its current libraries
# Each environment is rebuilt only when its lock file changed, so a second run takes a second.
# Usage: packaging/setup-environments.sh [--test]   (--test adds the test-only packages)
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[ "${1:-}" = "--test" ] && with_test=1

say() { printf '[setup] %s\n' "$*"; }

# Prints the path of a Python interpreter of the given minor version (e.g. 3.10), or nothing.
# Order: the variable PYTHON3_10 / PYTHON3_11, pythonX.Y on PATH, pyenv's versions, /usr/bin, /usr/local/bin.
find_python() {
  local version="$1" variable="PYTHON${1/./_}" candidate
  local candidates=()
  [ -n "${!variable:-}" ] && candidates+=("${!variable}")
  command -v "python$version" >/dev/null 2>&1 && candidates+=("$(command -v "python$version")")
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/"$version".*/bin/python"$version"; do candidates+=("$candidate"); done
  fi
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
                   /usr/bin/python"$version" /usr/local/bin/python"$version"; do
    candidates+=("$candidate")
  done
  for candidate in "${candidates[@]}"; do
    [ -x "$candidate" ] || continue
    # pyenv shims exist for versions that are not installed; ask the interpreter itself.
    if "$candidate" -c "import sys, venv; assert sys.version_info[:2] == tuple(map(int, '$version'.split('.')))" >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

require_python() {
  local version="$1" found
  if ! found=$(find_python "$version"); then
    cat >&2 <<EOF
[setup] Python $version was not found.
        The assistant needs Python 3.10 (for the Rasa engine) and Python 3.11 (for everything else).
        Install it with one of:
          pyenv install $version            (https://github.com/pyenv/pyenv)
          apt-get install python$version python$version-venv   (Debian/Ubuntu with a repository that has it)
        or point to an existing interpreter:  export PYTHON${version/./_}=/path/to/python$version
EOF
    exit 1
  fi
  echo "$found"
}

lock_digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

# make_env DIR PYTHON LOCKFILE...: (re)creates DIR when the digest of the lock files changed.
make_env() {
  local dir="$1" python="$2"; shift 2
  local digest stamp="$dir/.lock-digest"
  digest=$(lock_digest "$@")
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
    say "$dir is up to date"
    return 0
  fi
  say "creating $dir with $("$python" --version 2>&1) ($python)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip<25" >/dev/null
  local lock
  for lock in "$@"; do
    say "installing $lock into $dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock"
  done
  echo "$digest" > "$stamp"
}

python310=$(require_python 3.10)
python311=$(require_python 3.11)

make_env .venv-rasa "$python310" packaging/rasa.lock
if [ "$with_test" = 1 ]; then
  make_env .venv "$python311" packaging/requirements.lock packaging/requirements-test.lock
elif [ -f .venv/.lock-digest ] && [ "$(cat .venv/.lock-digest)" = "$(lock_digest packaging/requirements.lock packaging/requirements-test.lock)" ]; then
  say ".venv is up to date (with test packages)"
else
  make_env .venv "$python311" packaging/requirements.lock
fi
