#!/usr/bin/env bash
# Start a ClickHouse server for the ClickHouse store tests (tests/test_store.py) and the store
# benchmark: installs Debian's clickhouse-server if it is missing (needs root; CI runs as root),
# then starts it in the background with its data under $LIGHTSOUT_CLICKHOUSE_DIR
# (default /tmp/lightsout-clickhouse), listening on 127.0.0.1 only, native port
# $LIGHTSOUT_CLICKHOUSE_PORT (default 9000), and waits until it answers. Idempotent: a server
# that already answers on the port is left alone. The tests find it at
# clickhouse://127.0.0.1:$PORT (env LIGHTSOUT_TEST_CLICKHOUSE overrides).
set -euo pipefail
PORT=${LIGHTSOUT_CLICKHOUSE_PORT:-9000}
HTTP_PORT=${LIGHTSOUT_CLICKHOUSE_HTTP_PORT:-8123}
DIR=${LIGHTSOUT_CLICKHOUSE_DIR:-/tmp/lightsout-clickhouse}
export PATH="$PATH:/usr/sbin:/sbin"

answers() {
  clickhouse-client --host 127.0.0.1 --port "$PORT" --query "SELECT 1" >/dev/null 2>&1
}

if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci-clickhouse: clickhouse-server is missing; run as root to install it (apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends clickhouse-server clickhouse-client
fi

if answers; then
  echo "ci-clickhouse: a server already answers on 127.0.0.1:$PORT"
  exit 0
fi

mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/log"
USERS=/etc/clickhouse-server/users.xml
cat > "$DIR/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$DIR/log/clickhouse-server.log</log>
        <errorlog>$DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <users_config>$USERS</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML

nohup clickhouse-server --config-file="$DIR/config.xml" >"$DIR/log/stdout.log" 2>&1 &
echo $! >"$DIR/server.pid"
for _ in $(seq 1 120); do
  if answers; then
    echo "ci-clickhouse: clickhouse-server $(clickhouse-client --host 127.0.0.1 --port "$PORT" --query 'SELECT version()') answers on 127.0.0.1:$PORT (data in $DIR)"
    exit 0
  fi
  if ! kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
    echo "ci-clickhouse: clickhouse-server exited; its log:" >&2
    tail -n 30 "$DIR/log/stdout.log" "$DIR/log/clickhouse-server.err.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
echo "ci-clickhouse: clickhouse-server did not answer on 127.0.0.1:$PORT within 60 s" >&2
exit 1
