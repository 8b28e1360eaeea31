#!/bin/sh
# The HTTP benchmarks drive the server with wrk (a load generator in its own process).
# Install it from the distribution's packages when it is missing.
command -v wrk >/dev/null 2>&1 && exit 0
echo "installing wrk (HTTP load generator for make bench)..."
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y wrk >/dev/null; }
fi
command -v wrk >/dev/null 2>&1 || { echo "could not install wrk; install it and run make bench again" >&2; exit 1; }
