#!/usr/bin/env bash
# Local infrastructure for Trading Journal without Docker:
# PostgreSQL 15, Redis, Apache Kafka 4.1.1 (KRaft, one node) and s3proxy (S3 API).
#
#   bash deploy/local/infra.sh up|down|status
#
# Works from any cwd. Everything it creates (data, logs, pid files, jars) lives
# under $TJ_LOCAL_DIR (default <repo>/.local), except PostgreSQL's data when the
# `postgres` OS user cannot reach that directory (see pg_resolve_base).
#
# Environment (defaults in brackets):
#   TJ_LOCAL_DIR [<repo>/.local]
#   TJ_PG_PORT [55432]  TJ_REDIS_PORT [56379]  TJ_S3_PORT [59000]
#   TJ_KAFKA_PORT [59092]  TJ_KAFKA_CONTROLLER_PORT [59093]
#   TJ_PG_SUPERUSER_PASSWORD [postgres]
#   TJ_GATEWAY_DB_PASSWORD [gateway_local]  TJ_TRADES_DB_PASSWORD [trades_local]
#   TJ_IMPORTS_DB_PASSWORD [imports_local]  TJ_BILLING_DB_PASSWORD [billing_local]
#   TJ_PG_FAST [0]        1 = fsync/synchronous_commit/full_page_writes off (CI/tests only)
#   TJ_S3_ACCESS_KEY [tj-local-access]  TJ_S3_SECRET_KEY [tj-local-secret]
#   KAFKA_HEAP [512m]  TJ_S3_HEAP [256m]
#   TJ_UP_TIMEOUT [120]   seconds each component may take to become ready
#   JAVA_HOME             use $JAVA_HOME/bin/java instead of /usr/bin/java
#
# Topics and buckets are NOT created here: the project's Python code does that.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"

TJ_LOCAL_DIR="${TJ_LOCAL_DIR:-$REPO_ROOT/.local}"
# A relative TJ_LOCAL_DIR is taken relative to the caller's cwd, then made
# absolute: the daemons are started with other working directories.
[[ "$TJ_LOCAL_DIR" == /* ]] || TJ_LOCAL_DIR="$PWD/$TJ_LOCAL_DIR"

TJ_PG_PORT="${TJ_PG_PORT:-55432}"
TJ_REDIS_PORT="${TJ_REDIS_PORT:-56379}"
TJ_KAFKA_PORT="${TJ_KAFKA_PORT:-59092}"
TJ_KAFKA_CONTROLLER_PORT="${TJ_KAFKA_CONTROLLER_PORT:-59093}"
TJ_S3_PORT="${TJ_S3_PORT:-59000}"
TJ_UP_TIMEOUT="${TJ_UP_TIMEOUT:-120}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
TJ_S3_HEAP="${TJ_S3_HEAP:-256m}"
TJ_S3_ACCESS_KEY="${TJ_S3_ACCESS_KEY:-tj-local-access}"
TJ_S3_SECRET_KEY="${TJ_S3_SECRET_KEY:-tj-local-secret}"

HOST=127.0.0.1
KAFKA_VERSION=4.1.1 # keep in sync with deploy/local/kafka/pom.xml (only used in messages)

LOG_DIR="$TJ_LOCAL_DIR/logs"
RUN_DIR="$TJ_LOCAL_DIR/run"

PG_BIN=/usr/lib/postgresql/15/bin
# TJ_EXTRA_DATABASES: more throwaway test databases (space separated), e.g. one per parallel test run.
read -r -a _tj_extra_dbs <<<"${TJ_EXTRA_DATABASES:-}"
PG_DATABASES=(trading_journal trading_journal_test "${_tj_extra_dbs[@]}")
# role:schema — each service role owns exactly one schema.
PG_ROLE_SCHEMAS=(gateway:identity trades:trades imports:imports billing:billing)

REDIS_DIR="$TJ_LOCAL_DIR/redis"
REDIS_PID="$RUN_DIR/redis.pid"
REDIS_LOG="$LOG_DIR/redis.log"

KAFKA_HOME="$TJ_LOCAL_DIR/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_PROPS="$KAFKA_HOME/server.properties"
KAFKA_ADMIN_PROPS="$KAFKA_HOME/admin.properties"
KAFKA_CLUSTER_ID_FILE="$KAFKA_HOME/cluster.id"
KAFKA_FORMAT_STAMP="$KAFKA_HOME/formatted-controller-port"
KAFKA_LOG_DIR="$LOG_DIR/kafka"
KAFKA_OUT="$KAFKA_LOG_DIR/kafka.out"
KAFKA_PID="$RUN_DIR/kafka.pid"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J2="$SCRIPT_DIR/kafka/log4j2.xml"

S3_HOME="$TJ_LOCAL_DIR/s3"
S3_DATA="$S3_HOME/data"
S3_PROPS="$S3_HOME/s3proxy.properties"
S3_LIBS="$TJ_LOCAL_DIR/s3proxy/libs"
S3_LOG="$LOG_DIR/s3proxy.log"
S3_PID="$RUN_DIR/s3proxy.pid"
S3_POM="$SCRIPT_DIR/s3proxy/pom.xml"
S3_LOGBACK="$SCRIPT_DIR/s3proxy/logback.xml"

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=/usr/bin/java; fi

IS_ROOT=0
[[ "$(id -u)" == 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------- helpers ---

log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[infra] ERROR: %s\n' "$*" >&2
  exit 1
}

# Print the last lines of a log file to stderr (used on every failure).
show_log() {
  local file="$1" n="${2:-40}"
  if [[ -s "$file" ]]; then
    printf '[infra] ---- last %s lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2 || true
    printf '[infra] ----\n' >&2
  else
    printf '[infra] (log %s is empty or missing)\n' "$file" >&2
  fi
}

fail_component() { # name message logfile...
  local name="$1" msg="$2"
  shift 2
  printf '[infra] ERROR: %s: %s\n' "$name" "$msg" >&2
  local f
  for f in "$@"; do show_log "$f"; done
  exit 1
}

# Does something accept TCP connections on 127.0.0.1:<port>? (bash /dev/tcp:
# no nc/curl dependency; `timeout` guards against a hung accept queue.)
port_open() {
  # shellcheck disable=SC2016 # $0/$1 expand in the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

read_pid() { # pidfile -> pid on stdout (first line), nothing if absent
  local f="$1" pid=""
  if [[ -r "$f" ]]; then read -r pid <"$f" 2>/dev/null || true; fi
  [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s' "$pid"
  return 0
}

# A pid file can outlive its process and the pid can be reused, so "alive"
# also requires the process command line to contain a marker.
pid_alive() { # pid marker
  local pid="$1" marker="$2"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# Wait until "$@" succeeds; fail early if the process behind pidfile died.
# wait_for name pidfile marker timeout logs(colon-separated) cmd...
wait_for() {
  local name="$1" pidfile="$2" marker="$3" timeout="$4" logs="$5"
  shift 5
  local deadline=$((SECONDS + timeout)) pid
  local -a logfiles
  IFS=: read -r -a logfiles <<<"$logs"
  while true; do
    if "$@"; then return 0; fi
    pid="$(read_pid "$pidfile")"
    if ! pid_alive "$pid" "$marker"; then
      fail_component "$name" "process exited during startup" "${logfiles[@]}"
    fi
    if ((SECONDS >= deadline)); then
      fail_component "$name" "not ready after ${timeout}s (pid $pid still running; 'down' stops it)" "${logfiles[@]}"
    fi
    sleep 0.3
  done
}

# Stop a process by pid file: SIGTERM, wait, SIGKILL after a timeout.
stop_pidfile() { # name pidfile marker timeout
  local name="$1" pidfile="$2" marker="$3" timeout="$4" pid
  pid="$(read_pid "$pidfile")"
  if ! pid_alive "$pid" "$marker"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name (pid $pid) ignored SIGTERM for ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid)"
}

# Start a long-running command detached from this shell (own session, so a
# Ctrl-C or the caller's exit does not reach it); its exact pid goes to pidfile.
spawn() { # pidfile logfile cwd cmd...
  local pidfile="$1" logfile="$2" cwd="$3"
  shift 3
  # shellcheck disable=SC2016 # $$/$0/$@ expand in the inner bash, on purpose
  (cd "$cwd" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&-) &
  # The pid file is written by the child: wait for it so that wait_for does
  # not mistake "not written yet" for "died".
  local _
  for _ in $(seq 1 100); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.02
  done
}

# Keep one previous stdout log, so a failure shows only this start's output.
rotate_log() {
  if [[ -s "$1" ]]; then mv -f "$1" "$1.prev"; fi
}

ensure_port_free() { # name port envvar
  if port_open "$2"; then
    die "$1: port $2 on $HOST is already in use by another process (not ours). Stop it or set $3."
  fi
}

# Copy a pinned pom's runtime jars into a libs dir, once. The dir carries a
# stamp with the pom's sha256, so editing the pom triggers a re-copy.
fetch_jars() { # name pom dest running(0/1)
  local name="$1" pom="$2" dest="$3" running="$4" want have=""
  want="$(sha256sum "$pom" | cut -d' ' -f1)"
  [[ -r "$dest/.pom.sha256" ]] && have="$(cat "$dest/.pom.sha256")"
  if [[ "$have" == "$want" ]] && compgen -G "$dest/*.jar" >/dev/null; then
    return 0
  fi
  if [[ "$running" == 1 ]]; then
    # Swapping jars under a live JVM breaks its lazy class loading.
    warn "$name: $pom changed but $name is running; run 'down' then 'up' to use the new jars"
    return 0
  fi
  require_maven
  log "$name: fetching jars with Maven (first run or pom changed) ..."
  local tmp mvnlog="$LOG_DIR/mvn-$name.log"
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
  if ! mvn -B -q -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    fail_component "$name" "Maven could not fetch the jars" "$mvnlog"
  fi
  printf '%s\n' "$want" >"$tmp/.pom.sha256"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$name: $(find "$dest" -maxdepth 1 -name '*.jar' | wc -l) jars in $dest"
}

# ------------------------------------------------------- prerequisites ---

deb_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

require_maven() {
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is required to fetch the Kafka/s3proxy jars. Install it: apt-get install -y maven"
}

# Debian packages for PG/Redis are installed when running as root; otherwise
# list what is missing and how to install it. Java 17+ and Maven are checked
# here too (installed by apt as well when root and absent).
ensure_prereqs() {
  local -a missing=()
  local p
  command -v dpkg-query >/dev/null 2>&1 || die "this script expects a Debian/Ubuntu system (dpkg-query not found)"
  for p in postgresql-15 postgresql-client-15 redis-server; do
    deb_installed "$p" || missing+=("$p")
  done
  if [[ ! -x "$JAVA" ]]; then
    if [[ -n "${JAVA_HOME:-}" ]]; then
      die "JAVA_HOME is set but $JAVA does not exist or is not executable"
    fi
    missing+=(openjdk-17-jre-headless)
  fi
  command -v mvn >/dev/null 2>&1 || missing+=(maven)

  if ((${#missing[@]})); then
    if ((IS_ROOT)); then
      log "installing missing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      printf '[infra] ERROR: missing packages: %s\n' "${missing[*]}" >&2
      printf '[infra] install them with:\n  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y %s\n' "${missing[*]}" >&2
      exit 1
    fi
  fi
  [[ -x "$PG_BIN/pg_ctl" ]] || die "$PG_BIN/pg_ctl not found although postgresql-15 is installed"
  command -v redis-server >/dev/null 2>&1 || die "redis-server not on PATH"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli not on PATH (Debian package redis-tools)"
}

# Costs a JVM start, so only checked when a Java component is about to start.
JAVA_CHECKED=0
require_java17() {
  ((JAVA_CHECKED)) && return 0
  local jv
  jv="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  [[ -n "$jv" && "$jv" -ge 17 ]] || die "Java 17+ required; $JAVA reports version '${jv:-unknown}' (set JAVA_HOME)"
  JAVA_CHECKED=1
}

# ------------------------------------------------------------ PostgreSQL ---

# initdb/pg_ctl/postgres refuse to run as root, so as root they run as the
# package's `postgres` user; as a normal user they run as that user.
pg_as() {
  if ((IS_ROOT)); then runuser -u postgres -- "$@"; else "$@"; fi
}

# Where PG's files live. As root the server runs as `postgres`, which must be
# able to traverse every parent of its data dir. When the repo sits under a
# path it cannot traverse (e.g. /root), the data goes to
# /var/tmp/tj-pg-<hash of TJ_LOCAL_DIR> and $TJ_LOCAL_DIR/pg is a symlink to it.
pg_resolve_base() {
  local link="$TJ_LOCAL_DIR/pg"
  if [[ -L "$link" ]]; then
    PG_BASE="$(readlink -f "$link")"
  elif [[ -d "$link" ]] || ((!IS_ROOT)); then
    PG_BASE="$link"
  elif runuser -u postgres -- test -x "$TJ_LOCAL_DIR" 2>/dev/null; then
    PG_BASE="$link"
  else
    PG_BASE="/var/tmp/tj-pg-$(printf '%s' "$TJ_LOCAL_DIR" | sha256sum | cut -c1-12)"
  fi
  PG_DATA="$PG_BASE/data"
  PG_LOG="$PG_BASE/postgres.log"
  PG_SOCK="$PG_BASE/run"
  # Unix socket paths are limited to ~107 bytes; fall back to a short dir.
  if ((${#PG_SOCK} > 80)); then
    PG_SOCK="/tmp/tj-pg-sock-$(printf '%s' "$TJ_LOCAL_DIR" | sha256sum | cut -c1-12)"
  fi
}

pg_pid() { read_pid "$PG_DATA/postmaster.pid"; }
pg_alive() { pid_alive "$(pg_pid)" postgres; }
pg_ready() { pg_alive && port_open "$TJ_PG_PORT"; }

# psql as the superuser over the unix socket (trust auth there).
pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$TJ_PG_PORT" -U postgres "$@"; }

pg_init() {
  [[ -s "$PG_DATA/PG_VERSION" ]] && return 0
  log "postgres: initdb in $PG_DATA"
  mkdir -p "$PG_BASE" "$PG_SOCK"
  chmod 700 "$PG_BASE" "$PG_SOCK" # socket is trust-auth: keep other users out
  if ((IS_ROOT)); then chown postgres:postgres "$PG_BASE" "$PG_SOCK"; fi
  if [[ "$PG_BASE" != "$TJ_LOCAL_DIR/pg" ]]; then
    ln -sfn "$PG_BASE" "$TJ_LOCAL_DIR/pg"
    log "postgres: $TJ_LOCAL_DIR is not traversable by user postgres; data lives in $PG_BASE (symlinked as $TJ_LOCAL_DIR/pg)"
  fi
  local pwfile="$PG_BASE/.initdb-pw"
  (umask 077 && printf '%s\n' "${TJ_PG_SUPERUSER_PASSWORD:-postgres}" >"$pwfile")
  if ((IS_ROOT)); then chown postgres:postgres "$pwfile"; fi
  # scram-sha-256 over TCP (what the services use), trust on the unix socket.
  if ! pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" \
    >"$LOG_DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    fail_component postgres "initdb failed" "$LOG_DIR/initdb.log"
  fi
  rm -f "$pwfile"
}

pg_start() {
  if pg_alive; then
    log "postgres: already running (pid $(pg_pid))"
    return 0
  fi
  ensure_port_free postgres "$TJ_PG_PORT" TJ_PG_PORT
  pg_init
  mkdir -p "$PG_SOCK"
  chmod 700 "$PG_SOCK"
  if ((IS_ROOT)); then chown postgres:postgres "$PG_SOCK"; fi
  ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"
  # Paths are single-quoted inside -o because pg_ctl hands it to a shell.
  local opts="-p $TJ_PG_PORT -k '$PG_SOCK' -c listen_addresses=$HOST -c max_connections=300"
  if [[ "${TJ_PG_FAST:-0}" == 1 ]]; then
    # Crash-unsafe: only for throwaway CI/test data.
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  log "postgres: starting on $HOST:$TJ_PG_PORT"
  # pg_ctl -w blocks until the server accepts connections (or times out).
  if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TJ_UP_TIMEOUT" \
    -o "$opts" start >/dev/null 2>&1 9>&-; then
    fail_component postgres "pg_ctl start failed or timed out" "$PG_LOG"
  fi
}

pg_query_ok() { port_open "$TJ_PG_PORT" && pg_psql -d postgres -c "SELECT 1" >/dev/null 2>&1; }

pg_wait() {
  wait_for postgres "$PG_DATA/postmaster.pid" postgres "$TJ_UP_TIMEOUT" "$PG_LOG" pg_query_ok
}

# Databases, roles, privileges and schemas. Idempotent, so it runs on every
# `up` (cheap) and converges after interrupted runs or password changes.
# Passwords reach psql through the environment (\getenv), never argv or the
# script text, so quoting is safe and `ps` does not show them.
pg_provision() {
  local sql="" db rs role schema roles_csv=""
  for rs in "${PG_ROLE_SCHEMAS[@]}"; do roles_csv+="${roles_csv:+, }${rs%%:*}"; done

  sql+="\\getenv su_pw TJ_PG_SUPERUSER_PASSWORD"$'\n'
  sql+="ALTER ROLE postgres PASSWORD :'su_pw';"$'\n'
  for db in "${PG_DATABASES[@]}"; do
    sql+="SELECT 'CREATE DATABASE $db' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$db') \\gexec"$'\n'
  done
  for rs in "${PG_ROLE_SCHEMAS[@]}"; do
    role="${rs%%:*}" schema="${rs#*:}"
    sql+="SELECT 'CREATE ROLE $role LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \\gexec"$'\n'
    sql+="\\getenv pw TJ_${role^^}_DB_PASSWORD"$'\n'
    sql+="ALTER ROLE $role WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';"$'\n'
    sql+="ALTER ROLE $role SET search_path = $schema;"$'\n'
  done
  for db in "${PG_DATABASES[@]}"; do
    # Only the four service roles may connect (no TEMP for anyone but owners).
    sql+="REVOKE ALL ON DATABASE $db FROM PUBLIC;"$'\n'
    sql+="GRANT CONNECT ON DATABASE $db TO $roles_csv;"$'\n'
  done
  for db in "${PG_DATABASES[@]}"; do
    sql+="\\connect $db"$'\n'
    sql+="REVOKE ALL ON SCHEMA public FROM PUBLIC;"$'\n'
    for rs in "${PG_ROLE_SCHEMAS[@]}"; do
      role="${rs%%:*}" schema="${rs#*:}"
      # Owner = only role with rights there; no grants to other roles.
      sql+="CREATE SCHEMA IF NOT EXISTS $schema AUTHORIZATION $role;"$'\n'
      sql+="ALTER SCHEMA $schema OWNER TO $role;"$'\n'
    done
  done

  local out
  if ! out="$(printf '%s' "$sql" | env \
    TJ_PG_SUPERUSER_PASSWORD="${TJ_PG_SUPERUSER_PASSWORD:-postgres}" \
    TJ_GATEWAY_DB_PASSWORD="${TJ_GATEWAY_DB_PASSWORD:-gateway_local}" \
    TJ_TRADES_DB_PASSWORD="${TJ_TRADES_DB_PASSWORD:-trades_local}" \
    TJ_IMPORTS_DB_PASSWORD="${TJ_IMPORTS_DB_PASSWORD:-imports_local}" \
    TJ_BILLING_DB_PASSWORD="${TJ_BILLING_DB_PASSWORD:-billing_local}" \
    PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$TJ_PG_PORT" -U postgres -d postgres 2>&1)"; then
    printf '%s\n' "$out" >&2
    fail_component postgres "provisioning databases/roles/schemas failed (see psql output above)" "$PG_LOG"
  fi
}

pg_stop() {
  if ! pg_alive; then
    log "postgres: not running"
    return 0
  fi
  local pid
  pid="$(pg_pid)"
  if pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1; then
    log "postgres: stopped (pid $pid)"
  else
    warn "postgres: pg_ctl stop -m fast failed; sending SIGKILL would risk nothing but a recovery run"
    stop_pidfile postgres "$PG_DATA/postmaster.pid" postgres 10
  fi
}

# ------------------------------------------------------------------ Redis ---

redis_alive() { pid_alive "$(read_pid "$REDIS_PID")" redis-server; }
redis_ping() { [[ "$(redis-cli -h "$HOST" -p "$TJ_REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_start() {
  if redis_alive; then
    log "redis: already running (pid $(read_pid "$REDIS_PID"))"
    return 0
  fi
  rm -f "$REDIS_PID"
  ensure_port_free redis "$TJ_REDIS_PORT" TJ_REDIS_PORT
  mkdir -p "$REDIS_DIR"
  log "redis: starting on $HOST:$TJ_REDIS_PORT"
  # No persistence: local cache/rate-limit/session data only. Errors before
  # daemonizing (bad option, ...) go to the terminal, not to --logfile.
  local out
  if ! out="$(redis-server --port "$TJ_REDIS_PORT" --bind "$HOST" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" 2>&1 9>&-)"; then
    printf '%s\n' "$out" >&2
    fail_component redis "redis-server failed to start" "$REDIS_LOG"
  fi
  # --daemonize writes the pid file asynchronously: give it a moment.
  local _
  for _ in $(seq 1 50); do
    [[ -s "$REDIS_PID" ]] && break
    sleep 0.1
  done
}

redis_wait() {
  wait_for redis "$REDIS_PID" redis-server "$TJ_UP_TIMEOUT" "$REDIS_LOG" redis_ping
}

# ------------------------------------------------------------------ Kafka ---

KAFKA_STARTED=0
kafka_alive() { pid_alive "$(read_pid "$KAFKA_PID")" kafka.Kafka; }

kafka_write_config() {
  mkdir -p "$KAFKA_HOME" "$KAFKA_DATA" "$KAFKA_LOG_DIR"
  cat >"$KAFKA_PROPS" <<EOF
# Generated by deploy/local/infra.sh on every start; edit the script instead.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$TJ_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$TJ_KAFKA_PORT,CONTROLLER://$HOST:$TJ_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$TJ_KAFKA_PORT,CONTROLLER://$HOST:$TJ_KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

# Topics are created explicitly by the project's code, never implicitly.
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
log.retention.hours=168

# One node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Default 3000 ms delays every first consumer-group join (slow tests).
group.initial.rebalance.delay.ms=0
EOF
  # Short timeouts for the CLI tools (and the readiness probe), so a broker
  # that is not there yet fails fast instead of hanging for a minute.
  cat >"$KAFKA_ADMIN_PROPS" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=8000
EOF
}

# Format the log dir once (KRaft needs it before the first start).
kafka_format() {
  if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
    local formatted=""
    [[ -r "$KAFKA_FORMAT_STAMP" ]] && formatted="$(cat "$KAFKA_FORMAT_STAMP")"
    if [[ -n "$formatted" && "$formatted" != "$TJ_KAFKA_CONTROLLER_PORT" ]]; then
      # The standalone voter set records the controller endpoint at format time.
      warn "kafka: storage was formatted with controller port $formatted, now $TJ_KAFKA_CONTROLLER_PORT; if the broker does not come up: down, rm -rf $KAFKA_DATA $KAFKA_FORMAT_STAMP, up"
    fi
    return 0
  fi
  if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" || "$(cat "$KAFKA_CLUSTER_ID_FILE")" == -* ]]; then
    # 16 random bytes, unpadded base64url = 22 characters (Kafka's Uuid format). Like Kafka's own
    # Uuid.randomUuid, never one that starts with "-": the format tool would read it as an
    # option and fail (1 run in 64).
    local id="-"
    while [[ "$id" == -* ]]; do
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    printf '%s' "$id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  local cid
  cid="$(cat "$KAFKA_CLUSTER_ID_FILE")"
  log "kafka: formatting storage (cluster id $cid)"
  if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KAFKA_LOG4J2" -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
    -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format --standalone \
    -t "$cid" -c "$KAFKA_PROPS" >"$KAFKA_LOG_DIR/format.log" 2>&1; then
    fail_component kafka "storage format failed" "$KAFKA_LOG_DIR/format.log"
  fi
  printf '%s\n' "$TJ_KAFKA_CONTROLLER_PORT" >"$KAFKA_FORMAT_STAMP"
}

kafka_start() {
  if kafka_alive; then
    log "kafka: already running (pid $(read_pid "$KAFKA_PID"))"
    return 0
  fi
  rm -f "$KAFKA_PID"
  ensure_port_free kafka "$TJ_KAFKA_PORT" TJ_KAFKA_PORT
  ensure_port_free kafka-controller "$TJ_KAFKA_CONTROLLER_PORT" TJ_KAFKA_CONTROLLER_PORT
  require_java17
  kafka_write_config
  kafka_format
  KAFKA_STARTED=1
  rotate_log "$KAFKA_OUT"
  log "kafka: starting $KAFKA_VERSION on $HOST:$TJ_KAFKA_PORT (controller $TJ_KAFKA_CONTROLLER_PORT, heap $KAFKA_HEAP)"
  spawn "$KAFKA_PID" "$KAFKA_OUT" "$KAFKA_HOME" \
    "$JAVA" "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_LOG_DIR" -Dlog4j2.configurationFile="$KAFKA_LOG4J2" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS"
}

# Ready = PLAINTEXT port accepts AND the broker answers a metadata request
# (TopicCommand --list goes through the admin client like the services do).
kafka_metadata_ok() {
  port_open "$TJ_KAFKA_PORT" || return 1
  timeout 30 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KAFKA_LOG4J2" -Dkafka.logs.dir="$KAFKA_LOG_DIR/tools" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$HOST:$TJ_KAFKA_PORT" --command-config "$KAFKA_ADMIN_PROPS" \
    --list >/dev/null 2>&1
}

kafka_wait() {
  # Already running before this `up` and answering: no JVM-based probe needed.
  if ((!KAFKA_STARTED)) && port_open "$TJ_KAFKA_PORT"; then return 0; fi
  wait_for kafka "$KAFKA_PID" kafka.Kafka "$TJ_UP_TIMEOUT" "$KAFKA_LOG_DIR/server.log:$KAFKA_OUT" \
    kafka_metadata_ok
}

# ---------------------------------------------------------------- s3proxy ---

s3_alive() { pid_alive "$(read_pid "$S3_PID")" org.gaul.s3proxy.Main; }

# Any HTTP status line counts (anonymous GET / is answered with 403).
s3_http_ok() {
  local line
  # shellcheck disable=SC2016 # $0/$1 expand in the inner bash, on purpose
  line="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"; printf "GET / HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$0" "$1" >&3; head -n1 <&3' \
    "$HOST" "$TJ_S3_PORT" 2>/dev/null)" || return 1
  [[ "$line" == HTTP/* ]]
}

s3_start() {
  if s3_alive; then
    log "s3proxy: already running (pid $(read_pid "$S3_PID"))"
    return 0
  fi
  rm -f "$S3_PID"
  ensure_port_free s3proxy "$TJ_S3_PORT" TJ_S3_PORT
  require_java17
  mkdir -p "$S3_DATA"
  # Contains the secret key: owner-only. (Java properties syntax: keys with
  # backslashes would need escaping.)
  (
    umask 077
    cat >"$S3_PROPS" <<EOF
# Generated by deploy/local/infra.sh on every start; edit the script instead.
s3proxy.endpoint=http://$HOST:$TJ_S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$TJ_S3_ACCESS_KEY
s3proxy.credential=$TJ_S3_SECRET_KEY
# boto3 >= 1.36 sends x-amz-checksum-crc32 (etc.) on every upload by default;
# s3proxy 2.9/3.0 answer such a header with 501 NotImplemented. Ignoring it
# means the checksum is not verified, but signatures still are.
s3proxy.ignore-unknown-headers=true
# s3proxy's own NIO.2 filesystem store: unlike jclouds' "filesystem" provider
# it does not list directory placeholders ("a/") as objects, like real S3.
# Object metadata is kept in extended attributes (ext4/xfs/btrfs are fine).
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$S3_DATA
EOF
  )
  rotate_log "$S3_LOG"
  log "s3proxy: starting on http://$HOST:$TJ_S3_PORT"
  spawn "$S3_PID" "$S3_LOG" "$S3_HOME" \
    "$JAVA" "-Xmx$TJ_S3_HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlogback.configurationFile="$S3_LOGBACK" \
    -cp "$S3_LIBS/*" org.gaul.s3proxy.Main --properties "$S3_PROPS"
}

s3_wait() {
  wait_for s3proxy "$S3_PID" org.gaul.s3proxy.Main "$TJ_UP_TIMEOUT" "$S3_LOG" s3_http_ok
}

# --------------------------------------------------------------- commands ---

prepare_dirs() {
  mkdir -p "$TJ_LOCAL_DIR" "$LOG_DIR" "$RUN_DIR"
  # Keep .local out of git without touching the repo's .gitignore.
  [[ -e "$TJ_LOCAL_DIR/.gitignore" ]] || printf '*\n' >"$TJ_LOCAL_DIR/.gitignore"
}

# Serialise concurrent invocations (two `up`s racing would double-start).
# fd 9 holds the lock: every daemon is started with `9>&-`, otherwise it would
# inherit the fd and keep the lock for its whole life.
take_lock() {
  local lock="$RUN_DIR/infra.lock"
  mkdir -p "$RUN_DIR"
  exec 9>"$lock"
  if ! flock -n 9; then
    log "waiting for another infra.sh run to finish (lock $lock) ..."
    flock -w 600 9 || die "lock $lock still held after 600s; holders: $(fuser "$lock" 2>/dev/null || echo '?')"
  fi
}

now_s() { # wall clock in seconds with decimals (locale-proof)
  local t="$EPOCHREALTIME"
  printf '%s' "${t/,/.}"
}

cmd_up() {
  local t0
  t0="$(now_s)"
  ensure_prereqs
  prepare_dirs
  take_lock
  pg_resolve_base

  local k_run=0 s_run=0
  kafka_alive && k_run=1
  s3_alive && s_run=1
  fetch_jars kafka "$KAFKA_POM" "$KAFKA_LIBS" "$k_run"
  fetch_jars s3proxy "$S3_POM" "$S3_LIBS" "$s_run"

  # Launch the slow JVMs first so they boot while PG and Redis start.
  s3_start
  kafka_start
  redis_start
  pg_start

  redis_wait
  pg_wait
  pg_provision
  kafka_wait
  s3_wait

  summary "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')"
}

summary() {
  cat <<EOF
[infra] ready in ${1}s — endpoints (TJ_LOCAL_DIR=$TJ_LOCAL_DIR):
  postgres  $HOST:$TJ_PG_PORT  dbs ${PG_DATABASES[*]}; superuser postgres, roles gateway/trades/imports/billing (TJ_<ROLE>_DB_PASSWORD, default <role>_local)
  redis     redis://$HOST:$TJ_REDIS_PORT/0
  kafka     $HOST:$TJ_KAFKA_PORT (PLAINTEXT, Kafka $KAFKA_VERSION KRaft; no topics created here)
  s3        http://$HOST:$TJ_S3_PORT (path-style, SigV4, access key $TJ_S3_ACCESS_KEY)
  logs      $LOG_DIR
EOF
}

cmd_down() {
  if [[ ! -d "$TJ_LOCAL_DIR" ]]; then
    log "nothing to stop ($TJ_LOCAL_DIR does not exist)"
    return 0
  fi
  take_lock
  pg_resolve_base
  # Independent services: stop them in parallel (each takes 1-2 s).
  stop_pidfile s3proxy "$S3_PID" org.gaul.s3proxy.Main 20 &
  stop_pidfile kafka "$KAFKA_PID" kafka.Kafka 60 &
  stop_pidfile redis "$REDIS_PID" redis-server 20 &
  pg_stop
  wait
}

status_line() { # name alive(0/1) pid port answering(0/1)
  local state=stopped
  if [[ "$2" == 1 && "$5" == 1 ]]; then
    state=running
  elif [[ "$2" == 1 ]]; then
    state="starting/unresponsive"
  elif [[ "$5" == 1 ]]; then
    state="stopped (port in use by another process)"
  fi
  printf '%-9s %-10s pid=%-8s %s:%s\n' "$1" "$state" "${3:--}" "$HOST" "$4"
  [[ "$state" == running ]]
}

status_check() { # name pid marker port
  local pid="$2" alive=0 open=0
  pid_alive "$pid" "$3" && alive=1
  port_open "$4" && open=1
  [[ "$alive" == 1 ]] || pid=""
  status_line "$1" "$alive" "$pid" "$4" "$open"
}

cmd_status() {
  pg_resolve_base
  local rc=0
  status_check postgres "$(pg_pid)" postgres "$TJ_PG_PORT" || rc=3
  status_check redis "$(read_pid "$REDIS_PID")" redis-server "$TJ_REDIS_PORT" || rc=3
  status_check kafka "$(read_pid "$KAFKA_PID")" kafka.Kafka "$TJ_KAFKA_PORT" || rc=3
  status_check s3proxy "$(read_pid "$S3_PID")" org.gaul.s3proxy.Main "$TJ_S3_PORT" || rc=3
  return "$rc"
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
      echo "usage: bash deploy/local/infra.sh up|down|status" >&2
      exit 2
      ;;
  esac
}

main "$@"
