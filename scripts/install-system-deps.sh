#!/usr/bin/env bash
# Installs the Debian packages the tests and the PDF renderer need (idempotent, quiet when done).
set -euo pipefail
pkgs=(dovecot-imapd poppler-utils fonts-noto-cjk libicu-dev pkg-config
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 redis-tools postgresql-client
      docker-compose)  # docker-compose: offline validation of docker-compose.yml (scripts/check-compose.py)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Dovecot is started by the tests on their own port; never as the system service.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now dovecot >/dev/null 2>&1 || true; fi
pkill -x dovecot 2>/dev/null || true
