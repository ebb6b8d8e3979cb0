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
