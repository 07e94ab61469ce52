#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up: PostgreSQL and Redis (Dovecot and the SMTP
# server are started by the tests themselves on free loopback ports).
set -euo pipefail
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -h 127.0.0.1 -q; then
  echo "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
for _ in $(seq 1 30); do
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -q && exit 0
  sleep 1
done
echo "Redis or PostgreSQL did not come up; see /var/log/redis/ci.log and /var/log/postgresql/" >&2
exit 1
