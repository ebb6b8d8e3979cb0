"""Throwaway PostgreSQL clusters for the jitson extension tests.

postgres/run_tests.sh installs the extension and sets:
  JITSON_PG_BIN   /usr/lib/postgresql/15/bin (initdb, pg_ctl)
  JITSON_PG_TMP   a directory owned by the postgres user: data and socket dirs go there
  JITSON_PG_USER  the unprivileged user that runs the servers (postgres)
Each cluster listens on localhost and a unix socket in JITSON_PG_TMP only, on a free port,
and is stopped at the end of the session whatever happened (run_tests.sh also stops every
cluster it finds under JITSON_PG_TMP from its trap).
"""
import os
import socket
import subprocess
import threading
import time

import psycopg
import pytest

PG_BIN = os.environ.get("JITSON_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_TMP = os.environ.get("JITSON_PG_TMP")
PG_USER = os.environ.get("JITSON_PG_USER", "postgres")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_pg_user(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", PG_USER, "--"] + args
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self, name, settings=None):
        if not PG_TMP:
            raise RuntimeError("JITSON_PG_TMP is not set: run the tests through postgres/run_tests.sh")
        self.name = name
        self.data = os.path.join(PG_TMP, name)
        self.sock = PG_TMP
        self.port = free_port()
        self.settings = settings or {}
        self.running = False

    def init(self):
        as_pg_user([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--locale=C", "--no-sync"])
        conf = {
            "listen_addresses": "'localhost'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sock}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "256MB",
            "max_parallel_workers_per_gather": "2",
            "log_min_messages": "warning",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        return self

    def start(self):
        as_pg_user([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.data, "log"),
                    "-w", "-t", "60", "start"])
        self.running = True
        return self

    def stop(self, mode="fast"):
        if self.running:
            cmd = [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", PG_USER, "--"] + cmd
            subprocess.run(cmd, capture_output=True)
            self.running = False

    def dsn(self, dbname="postgres", user="postgres"):
        return f"host={self.sock} port={self.port} dbname={dbname} user={user}"

    def connect(self, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(self.dsn(), **kw)

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.data, "log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


@pytest.fixture(scope="session")
def pg():
    c = Cluster("main").init().start()
    try:
        with c.connect() as conn:
            conn.execute("CREATE EXTENSION jitson")
        yield c
        # A crashed backend makes the postmaster restart every session: the log says so.
        log = c.log_tail(400)
        assert "terminated by signal" not in log, log
    finally:
        c.stop()


@pytest.fixture
def conn(pg):
    with pg.connect() as conn:
        yield conn


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def check_cancellation(pg, conn, scan, aggregate_sql, params):
    """Statement cancellation of a scan over the 6,000,000-row table `huge` (made here once per
    database): scan(filter) runs the function under test over it (filter: an SQL predicate or
    None), aggregate_sql (with params) a longer aggregate. A statement timeout of a tenth of the
    scan's time stops both forms mid-scan, pg_cancel_backend from another session stops the
    aggregate, and the session stays usable."""
    conn.execute("CREATE TABLE IF NOT EXISTS huge (id bigint, v bit(64))")
    if conn.execute("SELECT count(*) FROM huge").fetchone()[0] == 0:
        conn.execute("INSERT INTO huge SELECT g, ('x' || lpad(to_hex(g * 2654435761), 16, '0'))::bit(64) "
                     "FROM generate_series(1, 6000000) g")
    scan(None)  # a fresh table's first scan also sets hint bits: slower
    full = float("inf")
    for _ in range(2):  # the faster of two: a busy machine must not stretch the timeout
        t = time.time()
        scan(None)
        full = min(full, time.time() - t)
    # The timeout is a tenth of what the whole scan takes here (the scan got faster than a fixed
    # 50 ms allowed for), so the cancellation lands mid-scan on a fast machine and a slow one.
    assert full > 0.05, f"the scan took {full:.3f} s, too short to test cancellation"
    conn.execute(f"SET statement_timeout = '{max(5, int(full * 100))}ms'")
    t = time.time()
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        scan(None)
    assert time.time() - t < full / 2
    with pytest.raises(psycopg.errors.QueryCanceled):
        scan("id > 0")
    conn.execute("RESET statement_timeout")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    done = threading.Event()
    with pg.connect() as other:
        def cancel():
            # until the query is over: a cancel that reaches the backend before the query does
            # is dropped
            while not done.wait(0.05):
                other.execute("SELECT pg_cancel_backend(%s)", (pid,))
        th = threading.Thread(target=cancel)
        th.start()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
                conn.execute(aggregate_sql, params)
        finally:
            done.set()
            th.join()
    assert conn.execute("SELECT 1").fetchone() == (1,)
