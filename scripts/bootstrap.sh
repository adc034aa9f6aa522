#!/usr/bin/env bash
# Create .venv with Python 3.11 and install a requirements file into it.
# Usage: scripts/bootstrap.sh requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
req=${1:-requirements.txt}
python=$(command -v python3.11 || command -v python3 || true)
if [ -z "$python" ]; then
  echo "Python 3.11 is needed: apt-get install python3 python3-venv" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian's python3 comes without venv until python3-venv is installed.
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      rm -rf .venv && "$python" -m venv .venv
    else
      echo "Cannot create .venv: install python3-venv (as root: apt-get install python3-venv)" >&2; exit 1
    fi
  fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
