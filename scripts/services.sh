#!/usr/bin/env bash
# Makes sure the PostgreSQL server the tests talk to is up (the tests create and drop their
# own databases in it). Redis, Dovecot and the SMTP servers are started by the test session
# itself on free loopback ports and stopped by PID when it ends: a Redis already running on
# this machine is never used, flushed or stopped (tests/support/redis_server.py).
set -euo pipefail
if ! pg_isready -h 127.0.0.1 -q; then
  echo "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -q && exit 0
  sleep 1
done
echo "PostgreSQL did not come up; see /var/log/postgresql/" >&2
exit 1
