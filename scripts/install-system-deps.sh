#!/usr/bin/env bash
# Installs the Debian packages the tests and the PDF renderer need (idempotent, quiet when done).
#
# It never stops, disables or restarts anything already on the machine: a mail server or Redis
# that runs here keeps running, untouched (tests/ops/test_foreign_services.py proves it).
# Dovecot and Redis are started by the tests themselves, on free loopback ports, as children of
# the test session. A package this script installs must not start a system service either:
# while it installs, a policy-rc.d answers "not now" (101) to every service start, unless the
# machine already has its own policy-rc.d (then that policy applies, as it always did).
set -euo pipefail
pkgs=(dovecot-imapd dovecot-lmtpd poppler-utils fonts-noto-cjk libicu-dev pkg-config
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 redis-server redis-tools
      postgresql-client
      chromium  # the web console's browser tests (Playwright drives it; never `playwright install`)
      docker-compose  # docker-compose: offline validation of docker-compose.yml (scripts/check-compose.py)
      postfix)  # a real MTA in the consent e2e test: its own DSNs reach the service (tests/support/postfix.py)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Installing Postfix would remove another MTA the machine already has (Debian lets one provide
# mail-transport-agent): then it is left out, and the one test that needs it says so.
if [[ " ${missing[*]} " == *" postfix "* ]] && [ -e /usr/sbin/sendmail ]; then
  echo "not installing postfix: this machine has another mail transport agent (/usr/sbin/sendmail)" >&2
  kept=()
  for p in "${missing[@]}"; do [ "$p" = postfix ] || kept+=("$p"); done
  missing=("${kept[@]}")
fi
policy=/usr/sbin/policy-rc.d
ours=""
cleanup() { if [ -n "$ours" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by outreach scripts/install-system-deps.sh while it installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  # Postfix installs as "No configuration": no /etc/postfix/main.cf, no mail system of the
  # machine's own; the tests run their instance from a config in a temp dir.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# promtool (checks deploy/prometheus/*.rules.yml in .ci/run) comes from Debian's `prometheus`
# package. Installing that package would also enable and start a Prometheus server, which the
# project does not want on a developer's machine: only the promtool binary is taken from it.
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing: promtool (from Debian's prometheus package, without its service)"
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq prometheus 2>/dev/null) || {
    apt-get update -qq
    (cd "$work" && apt-get download -qq prometheus)
  }
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
  install -m 755 "$work/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$work"
fi
