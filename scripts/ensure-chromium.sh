#!/usr/bin/env bash
# Installs Debian's chromium + chromium-driver for the browser tests when they are missing.
# Never fails the build: when the packages cannot be installed the browser tests skip with a loud message.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "WARNING: /usr/bin/chromium missing and no root to install it: browser tests will be SKIPPED" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
echo "Installing Debian chromium + chromium-driver for the browser tests..." >&2
if ! ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver) >/tmp/threatmatch-apt.log 2>&1; then
  echo "WARNING: could not install chromium (see /tmp/threatmatch-apt.log): browser tests will be SKIPPED" >&2
fi
exit 0
