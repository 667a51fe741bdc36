#!/usr/bin/env bash
# System packages the project needs beyond Python, by what they are for:
#   run:  bubblewrap (the sandbox for student code) and libseccomp2;
#   test: those, plus redis-server (an integration test restarts a Redis of its own) and chromium
#         (the browser tests drive it with Playwright; Playwright's own browser download is not
#         used) and nodejs (a test runs the web UI's ui.js functions in Node). libseccomp2:
#         the seccomp filter is our own BPF, but the tests check its syscall numbers against
#         libseccomp.
# Usage: install_system_deps.sh [run|test] (default test). Idempotent: installs only what is
# missing, with apt-get, as root; prints what it did; exits 0 when everything is already there.
set -euo pipefail

case "${1:-test}" in
    run) PACKAGES=(bubblewrap libseccomp2) ;;
    test) PACKAGES=(bubblewrap libseccomp2 redis-server chromium nodejs) ;;
    *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for package in "${PACKAGES[@]}"; do
    if installed "$package"; then
        echo "install_system_deps: $package already installed"
    else
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    command -v bwrap >/dev/null 2>&1 && echo "install_system_deps: $(bwrap --version)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: missing ${missing[*]} and there is no apt-get here; install them with the system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install_system_deps: missing ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
for package in "${missing[@]}"; do
    installed "$package" || { echo "install_system_deps: $package did not install" >&2; exit 1; }
    echo "install_system_deps: installed $package"
done
command -v bwrap >/dev/null 2>&1 && echo "install_system_deps: $(bwrap --version)"
exit 0
