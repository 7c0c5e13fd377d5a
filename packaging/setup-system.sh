#!/usr/bin/env bash
# Installs the Debian packages the assistant uses (speech synthesis, audio conversion, npm for the kiosk's
# handwriting stroke data; for `make cluster` the HAProxy balancer, and Redis and PostgreSQL servers it starts
# when none answers) and the stroke data itself (npm ci in kiosk/handwriting/data), and, with --test,
# what the tests need too (a real browser, a Chinese font for screenshots, PDF and QR-code readers for the
# printed kiosk slip, real SIP clients for the phone line: baresip and SIPp, axe-core from npm).
# Installs only what is missing; without root it prints the command to run instead.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[ "${1:-}" = "--test" ] && with_test=1
say() { printf '[setup] %s\n' "$*"; }

# package:command-or-file that shows it is installed
needed=("espeak-ng:espeak-ng" "ffmpeg:ffmpeg" "npm:npm" "haproxy:haproxy" "redis-server:redis-server"
        "postgresql:/usr/lib/postgresql")
if [ "$with_test" = 1 ]; then
  needed+=("chromium:chromium" "fonts-wqy-microhei:/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
           "poppler-utils:pdftotext" "zbar-tools:zbarimg"
           "baresip-core:baresip" "sip-tester:sipp")
fi

missing=()
for entry in "${needed[@]}"; do
  package="${entry%%:*}" probe="${entry#*:}"
  if [[ "$probe" == /* ]]; then [ -e "$probe" ] || missing+=("$package")
  else command -v "$probe" >/dev/null 2>&1 || missing+=("$package"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]}"
    say "install them with: sudo apt-get install ${missing[*]}"
    [ "$with_test" = 1 ] && exit 1
  fi
fi

# The kiosk's handwriting recogniser is built from Make Me a Hanzi's stroke medians (npm hanzi-writer-data);
# installed again whenever its lock file changes.
data_dir=kiosk/handwriting/data
data_stamp="$data_dir/node_modules/.lock-digest"
data_digest=$(sha256sum "$data_dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$data_stamp" 2>/dev/null)" != "$data_digest" ]; then
  if command -v npm >/dev/null 2>&1; then
    say "installing the handwriting stroke data (npm hanzi-writer-data)"
    (cd "$data_dir" && npm ci --silent --no-audit --no-fund)
    echo "$data_digest" > "$data_stamp"
  else
    say "npm is missing: the kiosk's handwriting recognition stays off until it is installed"
  fi
fi

if [ "$with_test" = 1 ] && [ -f tests/browser/package-lock.json ]; then
  if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
    say "installing axe-core for the accessibility tests"
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
  fi
fi
