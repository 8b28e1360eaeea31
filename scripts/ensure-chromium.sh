#!/bin/sh
# Install Debian's Chromium when it is missing, so that `make test` (and CI, which runs it in
# a fresh clone) can run the browser tests (tests/browser). Playwright drives this browser;
# its own browser download is never used.
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ] && "$CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "Chromium is missing at $CHROMIUM and this machine has no apt-get; install it (the browser tests need it, see docs/testing.md)." >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "Chromium is missing at $CHROMIUM; run as root or install it: apt-get install -y chromium" >&2
        exit 1
    fi
fi
echo "Installing Chromium (apt-get install chromium) for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1
    if ! $SUDO apt-get install -y -qq chromium >/dev/null; then
        echo "Could not install Chromium with apt-get; the browser tests need $CHROMIUM (apt-get install -y chromium)." >&2
        exit 1
    fi
fi
[ -x "$CHROMIUM" ] || { echo "apt-get installed chromium but $CHROMIUM is missing." >&2; exit 1; }
