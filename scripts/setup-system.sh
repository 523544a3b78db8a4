#!/usr/bin/env bash
# System packages the tests and demos read real data from (Debian).  Installs them when running as
# root (CI, containers); otherwise prints what is missing and carries on.
set -euo pipefail
pkgs=()
for p in "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${pkgs[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "warning: missing system packages (tests that need them are skipped): ${pkgs[*]}" >&2
fi
