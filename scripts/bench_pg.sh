#!/usr/bin/env bash
# PostgreSQL benchmark: jitson vs pgvector's exact `ORDER BY v <~> q LIMIT 10` vs plain
# `ORDER BY bit_count(v # q)` on BENCH_PG_ROWS (default 200,000) rows of bit(16384), default
# storage (values in TOAST) and STORAGE PLAIN, 10 queries, one core and 2 parallel workers; then
# the sharded query over 3 local clusters (postgres_fdw) against one server. Prints medians and
# ratios, and the CPU.
#
#   PGVECTOR_SRC=/path/to/pgvector scripts/bench_pg.sh
#
#   JITSON_LIB_DIR   jitson build with libjitson.so (default build; built when missing)
#   PGVECTOR_SRC     a pgvector source tree, built and installed here with PGXS; unset: pgvector
#                    is left out. This script never downloads anything.
#   BENCH_PG_ROWS    rows (default 200000); BENCH_PG_SHARDS=0 skips the sharded part
#   BENCH_PG_HUGE_PAGES=on  the main server's shared buffers in 2 MB pages (huge_pages = on, as
#                    PostgreSQL's manual advises for large shared_buffers): the script reserves
#                    the pages PostgreSQL asks for (vm.nr_hugepages) and gives them back on exit.
#                    Default off: the machine's settings are left alone.
#   BENCH_PG_SHARED_BUFFERS  the main server's shared_buffers (default 6GB). A sequential scan of
#                    a table larger than a quarter of it reads through a 256 KB ring, from the
#                    OS page cache: 12GB keeps both 1,000,000-row tables (2.7 GB each) resident.
# Runs as root (it installs the extensions); the servers run as the postgres user, on free ports,
# listening on localhost and a unix socket in a temporary directory, stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lib_dir=${JITSON_LIB_DIR:-build}
[[ $lib_dir == /* ]] || lib_dir=$root/$lib_dir  # a folder not built yet: relative to the project
rows=${BENCH_PG_ROWS:-200000}
shards=${BENCH_PG_SHARDS:-1}
pg_bin=${JITSON_PG_BIN:-/usr/lib/postgresql/15/bin}
huge=${BENCH_PG_HUGE_PAGES:-off}
shared_buffers=${BENCH_PG_SHARED_BUFFERS:-6GB}
die() { echo "bench_pg.sh: $*" >&2; exit 1; }
[[ $huge == on || $huge == off ]] || die "BENCH_PG_HUGE_PAGES is '$huge'; it must be on or off"
[[ $shared_buffers =~ ^[1-9][0-9]*(kB|MB|GB|TB)$ ]] ||
  die "BENCH_PG_SHARED_BUFFERS is '$shared_buffers'; it must be a size such as 6GB or 12GB"

[[ $(id -u) == 0 ]] || die "run as root: the extensions are installed into PostgreSQL's directories"
bash scripts/bootstrap.sh
# the library, and the CLI whose `jitson info` names the CPU and its tuning in the output
if [[ ! -f "$lib_dir/libjitson.so" || ! -x "$lib_dir/cli/jitson" ]]; then
  cmake -S . -B "$lib_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$lib_dir" -j2 --target jitson jitson_cli
fi
venv=${JITSON_PG_VENV:-$lib_dir/pg-venv}
if ! "$venv/bin/python" -c 'import psycopg, numpy' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q 'psycopg[binary]>=3.1' 'numpy>=1.24' pytest ||
    die "cannot make the venv $venv"
fi
make_args=(-C "$lib_dir/pg-ext" -f "$root/postgres/Makefile" VPATH="$root/postgres"
  PG_CONFIG="$pg_bin/pg_config" JITSON_LIB_DIR="$lib_dir" JITSON_INCLUDE_DIR="$root/include")
mkdir -p "$lib_dir/pg-ext"
exec 8>/tmp/jitson-pg-tests.lock
flock 8
make -s "${make_args[@]}" && make -s "${make_args[@]}" install
pgvector_flag=()
if [[ -n "${PGVECTOR_SRC:-}" ]]; then
  [[ -f "$PGVECTOR_SRC/vector.control" ]] || die "PGVECTOR_SRC=$PGVECTOR_SRC holds no pgvector source (vector.control)"
  make -s -C "$PGVECTOR_SRC" PG_CONFIG="$pg_bin/pg_config" with_llvm=no
  make -s -C "$PGVECTOR_SRC" PG_CONFIG="$pg_bin/pg_config" with_llvm=no install
  pgvector_flag=(--pgvector)
  echo "pgvector: $(sed -n "s/default_version = '\(.*\)'/\1/p" "$PGVECTOR_SRC/vector.control") from $PGVECTOR_SRC"
else
  echo "pgvector: left out (set PGVECTOR_SRC to a pgvector source tree to include it)"
fi

tmp=$(mktemp -d "$lib_dir/pg-bench.XXXXXX")
chmod 755 "$tmp"
chown postgres "$tmp"
clusters=()
cleanup() {
  local d
  for d in "${clusters[@]}"; do
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
  [[ -z "${huge_before:-}" ]] || echo "$huge_before" >/proc/sys/vm/nr_hugepages
}
trap cleanup EXIT INT TERM
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_cluster NAME SHARED_BUFFERS HUGE_PAGES: sets started_port. Not run in $(...), so that
# clusters (stopped on exit) and huge_before (given back on exit) reach the cleanup.
start_cluster() {
  local d=$tmp/$1 port pages
  port=$(free_port)
  runuser -u postgres -- "$pg_bin/initdb" -D "$d" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
  cat >>"$d/postgresql.conf" <<EOF
huge_pages = $3
listen_addresses = 'localhost'
port = $port
unix_socket_directories = '$tmp'
shared_buffers = $2
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
max_parallel_workers_per_gather = 2
jit = off
EOF
  if [[ $3 == on ]]; then
    pages=$(runuser -u postgres -- "$pg_bin/postgres" -D "$d" -C shared_memory_size_in_huge_pages)
    huge_before=${huge_before:-$(cat /proc/sys/vm/nr_hugepages)}
    echo $((huge_before + pages)) 2>/dev/null >/proc/sys/vm/nr_hugepages ||
      die "cannot write /proc/sys/vm/nr_hugepages to reserve $pages huge pages; run without BENCH_PG_HUGE_PAGES"
    (($(cat /proc/sys/vm/nr_hugepages) >= huge_before + pages)) ||
      die "could not reserve $pages huge pages (vm.nr_hugepages is $(cat /proc/sys/vm/nr_hugepages)); free memory or run without BENCH_PG_HUGE_PAGES"
  fi
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$d" -l "$d/log" -w -t 120 start >/dev/null
  clusters+=("$d")
  started_port=$port
}
start_cluster main "$shared_buffers" "$huge"
main_port=$started_port
shard_args=()
if [[ "$shards" != 0 ]]; then
  for i in 0 1 2; do
    start_cluster "shard$i" 1GB off
    p=$started_port
    shard_args+=(--shard-dsn "host=$tmp port=$p dbname=postgres user=postgres" --shard-fdw "localhost:$p")
  done
fi

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(
  [[ -x "$lib_dir/cli/jitson" ]] && "$lib_dir/cli/jitson" info 2>/dev/null | grep -iE '^(isa|cpu)' | tr '\n' ' ')"
echo "PostgreSQL: $("$pg_bin/postgres" --version); rows: $rows x 16384 bits; shared_buffers $shared_buffers; huge pages: $huge"
"$venv/bin/python" "$root/postgres/bench/bench_pg.py" --dsn "host=$tmp port=$main_port dbname=postgres user=postgres" \
  --rows "$rows" "${pgvector_flag[@]}" "${shard_args[@]}"
