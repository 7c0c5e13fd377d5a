#!/usr/bin/env bash
# Regenerates the lock files from the requirement files, each in a fresh throw-away environment:
#   rasa.lock (Python 3.10), requirements.lock and requirements-test.lock (Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
source <(sed -n '/^find_python()/,/^}/p' packaging/setup-environments.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

freeze() { "$1/bin/pip" freeze --all | grep -v -E '^(pip|setuptools|wheel|pkg_resources)=='; }

"$(find_python 3.10)" -m venv "$work/rasa"
"$work/rasa/bin/pip" install -q -r packaging/rasa-requirements.txt
freeze "$work/rasa" > packaging/rasa.lock

"$(find_python 3.11)" -m venv "$work/main"
"$work/main/bin/pip" install -q -r packaging/requirements.txt
freeze "$work/main" > packaging/requirements.lock
"$work/main/bin/pip" install -q -r packaging/requirements-test.txt
freeze "$work/main" | grep -v -x -F -f packaging/requirements.lock > packaging/requirements-test.lock
echo "locks written: packaging/rasa.lock packaging/requirements.lock packaging/requirements-test.lock"
