# Sourced by scripts/run.sh, test.sh and bench.sh: `install_debian_packages WHAT PACKAGE...`
# installs the Debian packages that are missing (as root), or stops naming the command that would
# (as another user). WHAT names the command in the messages: "make run", "make test"...
install_debian_packages() {
  local what=$1 package
  shift
  local missing=()
  if ! command -v dpkg-query >/dev/null; then
    printf '\n%s: this script installs Debian packages and needs dpkg (Debian or Ubuntu).\n' "$what" >&2
    exit 1
  fi
  for package in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != installed ]; then
      missing+=("$package")
    fi
  done
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" != 0 ]; then
    printf '\n%s: missing Debian packages: %s\n  Install them as root, then run %s again:\n    apt-get update && apt-get install -y %s\n' \
      "$what" "${missing[*]}" "$what" "${missing[*]}" >&2
    exit 1
  fi
  printf '\n==> Installing %s\n' "${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}
