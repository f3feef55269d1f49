"""DuckDB as released (the Python wheel, the official build) for `cargo xbench` measurement 14.

One long-lived process per database, started by benches/bench/scale/ as
`python3 -c <this file> <config JSON>`; the bench binary's `--duckdb-serve` is the same server
over the bundled crate's DuckDB and answers the same protocol, so both DuckDBs are measured alike.

Config: {"db": path, "threads": n, "memory_limit": null or "4GB", "as_of": "YYYY-MM-DD",
"write": false}. The database is opened read-only (read-write only to generate it) with the
settings seglens uses: threads = cores, DuckDB's own memory limit unless one is given, no query
progress, `current_date` and `today()` pinned as seglens pins them
(`seglens::engine::define_today`), and the in-memory database `__seglens_kept` attached for the
kept rollups.

Once open it prints {"ready": true, "version": "v2.0.0"}, then reads one JSON request a line:
{"sql": [statements], "reopen": false, "timed_open": false}. `reopen` closes the connection and
opens a fresh one before the clock starts (a cold instance, as a new seglens session has);
`timed_open` does the same inside the timed span. It answers one line: {"ms": its own in-process
time (perf_counter around opening if timed, execute and fetchall of every statement), "each_ms":
each statement's own time, "results":
[rows of each statement], "peak_kb": the peak resident set size during the request (VmHWM, reset
before it)} or {"error": message}. End of input ends the process.
"""

import json
import math
import sys
import time

import duckdb


def reset_peak():
    # Writing 5 resets VmHWM to the current resident size (Linux 4.0+).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def cell(v):
    # JSON has no NaN or infinity, and no Decimal or date: those go as text.
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return str(v)


def connect(cfg):
    config = {
        "threads": cfg["threads"],
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if cfg.get("memory_limit"):
        config["memory_limit"] = cfg["memory_limit"]
    con = duckdb.connect(cfg["db"], read_only=not cfg.get("write", False), config=config)
    # As seglens: no query progress (and nothing printed on stdout, which carries the answers).
    con.execute("SET enable_progress_bar = false")
    con.execute("SET enable_progress_bar_print = false")
    con.execute("ATTACH ':memory:' AS __seglens_kept (READ_WRITE)")
    for name in ("current_date", "today"):
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}() AS DATE '{cfg['as_of']}'")
    return con


def main():
    cfg = json.loads(sys.argv[1])
    con = connect(cfg)
    version = con.execute("SELECT version()").fetchone()[0]
    out = sys.stdout
    out.write(json.dumps({"ready": True, "version": version}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req.get("reopen") or req.get("timed_open"):
                con.close()
            if req.get("reopen"):
                con = connect(cfg)
            reset_peak()
            start = time.perf_counter()
            if req.get("timed_open"):
                con = connect(cfg)
            results, each = [], []
            for sql in req.get("sql", []):
                began = time.perf_counter()
                results.append(con.execute(sql).fetchall())
                each.append((time.perf_counter() - began) * 1e3)
            ms = (time.perf_counter() - start) * 1e3
            answer = {
                "ms": ms,
                "each_ms": each,
                "results": [[[cell(v) for v in row] for row in rows] for rows in results],
                "peak_kb": peak_kb(),
            }
        except Exception as e:  # a failed statement is the bench's error to report, not ours
            answer = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
