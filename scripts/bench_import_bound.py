"""The import's bound: its writes and its preparation apart, against the bench's baseline.

    PYTHONPATH=src python scripts/bench_import_bound.py --people N [--postgres] \
        [--rounds R] [--data-dir DIR]

Measures, in one process and one run, CPU time per person (per row for the baselines):
the parts the import cannot do without, and the bench's own baseline, so that
docs/scale.md ("The bound, measured again") can say how far `ratio_to_baseline` can go.

The rows are the import's own: a population of N persons (generated once into DIR) is
imported once by the real importer into a SQLite file (kept in DIR), then read back
(ids, blind indexes, sealed blobs). Each round writes them again in the importer's order
(per batch of 2,000 persons its new contracts, then its beneficiaries; a transaction per
20,000 persons) with the importer's method (executemany on SQLite, binary COPY on
PostgreSQL, into a database of the run's own) into:
  full      the real schema (every index; the composite foreign key on PostgreSQL)
  required  only the indexes the issue requires: per beneficiary the unique (insurer,
            member blind index) (natural key, member look-up) and the identity blind
            index (NIR + date of birth look-up); per contract the unique (insurer,
            number blind index) (natural key). No foreign key, no contract_id index.
  bare      the same tables without any secondary index or key
  clustered (SQLite) the natural keys as the tables' keys (WITHOUT ROWID)
and the baselines: `bench_baseline` is rempart.bench.baseline's own insert (reads and
splits the members files, as `rempart bench import` times it), `baseline` the same rows
split beforehand. `prep` is the preparation in this process: validation
(MemberPreparer._validate_whole), the cryptography the issue requires (member and
identity blind indexes, the person's seal, the contract's blind index and seal), the
content fingerprints, the whole prepare_chunk, and pickling a prepared chunk there and
back (the worker hand-off). CPU: this process (process_time) and, on PostgreSQL, its
backend (/proc/PID/stat). One JSON line per round.
"""
import argparse
import datetime as dt
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.types.string import BytesBinaryDumper

TICK = os.sysconf("SC_CLK_TCK")
HERE = Path("import-bound")  # --data-dir
BATCH, TX = 2_000, 20_000
B_COLS = ("id", "insurer_id", "contract_id", "rank", "member_idx", "identity_idx",
          "key_version", "sealed", "content_mac", "updated_at")
C_COLS = ("id", "insurer_id", "number_idx", "key_version", "sealed", "content_mac",
          "tier", "start_date", "end_date", "third_party", "updated_at")


def source(people):
    """The imported rows (SQLite file of a real import, built once)."""
    db = HERE / f"imported-{people}.db"
    pop = HERE / f"pop-{people}"
    if not pop.exists():
        from rempart.synth import generate_population
        generate_population(out=pop, people=people, seed=1)
    if not db.exists():
        from rempart.ingest.service import Importer
        from rempart.runtime import Runtime
        from rempart.settings import Settings
        d = HERE / f"imported-{people}"
        s = Settings.load(data_dir=d, database_url=f"sqlite:///{d / 'rempart.db'}",
                          key_file=d / "keyring.json")
        with Runtime.open(s, create_keys=True) as r:
            Importer(engine=r.engine, vault=r.vault, clock=r.clock).import_paths(
                paths=[HERE / f"pop-{people}"])
        (d / "rempart.db").rename(db)
    con = sqlite3.connect(db)
    b = con.execute(f"SELECT {', '.join(B_COLS)} FROM beneficiaries ORDER BY id").fetchall()  # noqa: S608 (constant names)
    c = con.execute(f"SELECT {', '.join(C_COLS)} FROM contracts ORDER BY id").fetchall()  # noqa: S608 (constant names)
    return b, c


PEOPLE = [0]


def members_files():
    return sorted((HERE / f"pop-{PEOPLE[0]}").glob("*members*"))


def baseline_rows(people):
    rows = []
    for path in sorted((HERE / f"pop-{people}").glob("*members*")):
        with path.open(encoding="utf-8") as fh:
            fh.readline()
            fh.readline()
            for line in fh:
                if not line.startswith("#"):
                    rows.append(line.rstrip("\n").split(";"))
    return rows


def plan(b, c):
    """[(transaction: [(contracts, beneficiaries)])] in the importer's order."""
    out, tx, ci = [], [], 0
    for at in range(0, len(b), BATCH):
        batch = b[at:at + BATCH]
        top = max(r[2] for r in batch)
        start = ci
        while ci < len(c) and c[ci][0] <= top:
            ci += 1
        tx.append((c[start:ci], batch))
        if sum(len(x[1]) for x in tx) >= TX:
            out.append(tx)
            tx = []
    if tx:
        out.append(tx)
    return out


SQLITE_TABLES = """
CREATE TABLE insurers (id INTEGER PRIMARY KEY);
CREATE TABLE contracts (id INTEGER NOT NULL, insurer_id INTEGER NOT NULL {cfk},
 number_idx BLOB NOT NULL, key_version SMALLINT NOT NULL, sealed BLOB NOT NULL,
 content_mac BLOB NOT NULL, tier VARCHAR(40) NOT NULL, start_date DATE NOT NULL,
 end_date DATE, third_party BOOLEAN NOT NULL, updated_at DATETIME NOT NULL,
 PRIMARY KEY (id) {cuq});
CREATE TABLE beneficiaries (id INTEGER NOT NULL, insurer_id INTEGER NOT NULL,
 contract_id INTEGER NOT NULL, rank SMALLINT NOT NULL, member_idx BLOB NOT NULL,
 identity_idx BLOB NOT NULL, key_version SMALLINT NOT NULL, sealed BLOB NOT NULL,
 content_mac BLOB NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id) {buq});
"""
SQLITE_VARIANTS = {
    "full": (dict(cfk="REFERENCES insurers (id)", cuq=", UNIQUE (insurer_id, number_idx)",
                  buq=", UNIQUE (insurer_id, member_idx), FOREIGN KEY (contract_id, "
                      "insurer_id) REFERENCES contracts (id, insurer_id)"),
             "CREATE UNIQUE INDEX uq_c ON contracts (id, insurer_id);"
             "CREATE INDEX ix_b_c ON beneficiaries (contract_id);"
             "CREATE INDEX ix_b_i ON beneficiaries (identity_idx);"),
    "required": (dict(cfk="", cuq=", UNIQUE (insurer_id, number_idx)",
                      buq=", UNIQUE (insurer_id, member_idx)"),
                 "CREATE INDEX ix_b_i ON beneficiaries (identity_idx);"),
    "bare": (dict(cfk="", cuq="", buq=""), ""),
    # The natural keys as the tables' own keys (WITHOUT ROWID): one B-tree less per row.
    "clustered": (dict(cfk="", cuq="", buq=""), ""),
}
CLUSTERED = """
CREATE TABLE insurers (id INTEGER PRIMARY KEY);
CREATE TABLE contracts (id INTEGER NOT NULL, insurer_id INTEGER NOT NULL,
 number_idx BLOB NOT NULL, key_version SMALLINT NOT NULL, sealed BLOB NOT NULL,
 content_mac BLOB NOT NULL, tier VARCHAR(40) NOT NULL, start_date DATE NOT NULL,
 end_date DATE, third_party BOOLEAN NOT NULL, updated_at DATETIME NOT NULL,
 PRIMARY KEY (insurer_id, number_idx)) WITHOUT ROWID;
CREATE TABLE beneficiaries (id INTEGER NOT NULL, insurer_id INTEGER NOT NULL,
 contract_id INTEGER NOT NULL, rank SMALLINT NOT NULL, member_idx BLOB NOT NULL,
 identity_idx BLOB NOT NULL, key_version SMALLINT NOT NULL, sealed BLOB NOT NULL,
 content_mac BLOB NOT NULL, updated_at DATETIME NOT NULL,
 PRIMARY KEY (insurer_id, member_idx)) WITHOUT ROWID;
CREATE INDEX ix_b_i ON beneficiaries (identity_idx);
"""


def sqlite_round(name, txs, base):
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        con = sqlite3.connect(Path(tmp) / "w.db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=OFF",
                       "cache_size=-65536", "mmap_size=0"):
            con.execute(f"PRAGMA {pragma}")  # as the importer's connection has them
        if name == "bench_baseline":
            from rempart.bench import baseline as bb
            con.execute(f"CREATE TABLE {bb.TABLE} ({', '.join(f'{c} text' for c in bb._COLUMNS)})")
            c0, rows = time.process_time(), 0
            for path in members_files():
                con.execute("BEGIN")
                rows += bb._sqlite(con, path)
                con.execute("COMMIT")
            return {"rows": rows, "cpu": time.process_time() - c0}
        if name == "baseline":
            con.execute(f"CREATE TABLE base ({', '.join(f'c{i} text' for i in range(17))})")
            sql = f"INSERT INTO base VALUES ({', '.join('?' * 17)})"  # noqa: S608 (constant names)
            c0 = time.process_time()
            for at in range(0, len(base), TX):
                con.execute("BEGIN")
                for b0 in range(at, min(at + TX, len(base)), 10_000):
                    con.executemany(sql, base[b0:min(b0 + 10_000, at + TX)])
                con.execute("COMMIT")
            return {"rows": len(base), "cpu": time.process_time() - c0}
        ddl, idx = SQLITE_VARIANTS[name]
        con.executescript(CLUSTERED if name == "clustered"
                          else SQLITE_TABLES.format(**ddl) + idx)
        con.executemany("INSERT INTO insurers VALUES (?)", [(i,) for i in range(1, 100)])
        ci = f"INSERT INTO contracts VALUES ({', '.join('?' * len(C_COLS))})"  # noqa: S608 (constant names)
        bi = f"INSERT INTO beneficiaries VALUES ({', '.join('?' * len(B_COLS))})"  # noqa: S608 (constant names)
        rows, c0, commit = 0, time.process_time(), 0.0
        for tx in txs:
            con.execute("BEGIN IMMEDIATE")
            for cs, bs in tx:
                con.executemany(ci, cs)
                con.executemany(bi, bs)
                rows += len(bs)
            k0 = time.process_time()
            con.execute("COMMIT")
            commit += time.process_time() - k0
        return {"rows": rows, "cpu": time.process_time() - c0, "commit": commit}


PG_URL = "postgresql://postgres@127.0.0.1:5432/"  # trust, as on the development machine


def backend_cpu(pid):
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


PG_TABLES = """
CREATE TABLE insurers (id int PRIMARY KEY);
CREATE TABLE contracts (id int NOT NULL PRIMARY KEY, insurer_id int NOT NULL {cfk},
 number_idx bytea NOT NULL, key_version smallint NOT NULL, sealed bytea NOT NULL,
 content_mac bytea NOT NULL, tier varchar(40) NOT NULL, start_date date NOT NULL,
 end_date date, third_party boolean NOT NULL, updated_at timestamptz NOT NULL {cuq});
CREATE TABLE beneficiaries (id int NOT NULL PRIMARY KEY, insurer_id int NOT NULL,
 contract_id int NOT NULL, rank smallint NOT NULL, member_idx bytea NOT NULL,
 identity_idx bytea NOT NULL, key_version smallint NOT NULL, sealed bytea NOT NULL,
 content_mac bytea NOT NULL, updated_at timestamptz NOT NULL {buq});
"""
PG_VARIANTS = {
    "full": (dict(cfk="REFERENCES insurers (id)", cuq=", UNIQUE (insurer_id, number_idx)",
                  buq=", UNIQUE (insurer_id, member_idx)"),
             "CREATE UNIQUE INDEX uq_c ON contracts (id, insurer_id);"
             "CREATE INDEX ix_b_c ON beneficiaries (contract_id);"
             "CREATE INDEX ix_b_i ON beneficiaries (identity_idx);"
             "ALTER TABLE beneficiaries ADD FOREIGN KEY (contract_id, insurer_id) "
             "REFERENCES contracts (id, insurer_id);"),
    "required": SQLITE_VARIANTS["required"],
    "bare": (dict(cfk="", cuq="", buq=""), ""),
}
C_TYPES = ["int4", "int4", "bytea", "int2", "bytea", "bytea", "text", "date", "date", "bool",
           "timestamptz"]
B_TYPES = ["int4", "int4", "int4", "int2", "bytea", "bytea", "int2", "bytea", "bytea",
           "timestamptz"]


def pg_rows(b, c):
    now = dt.datetime.now(dt.UTC)
    iso = dt.date.fromisoformat
    cc = [(*r[:7], iso(r[7]), iso(r[8]) if r[8] else None, bool(r[9]), now) for r in c]
    bb = [(*r[:9], now) for r in b]
    return bb, cc


def pg_round(name, txs, base):
    db = f"import_bound_{os.getpid()}_{name}"
    with psycopg.connect(PG_URL + "test", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        with psycopg.connect(PG_URL + db) as con:
            pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
            con.adapters.register_dumper(None, BytesBinaryDumper)
            if name == "bench_baseline":
                from rempart.bench import baseline as bb
                columns = ", ".join(f"{c} text" for c in bb._COLUMNS)
                con.execute(f"CREATE TABLE {bb.TABLE} ({columns})")
                con.commit()
                s0, c0, w0, rows = backend_cpu(pid), time.process_time(), time.perf_counter(), 0
                for path in members_files():
                    rows += bb._postgres(con, path)
                    con.commit()
                return {"rows": rows, "cpu": time.process_time() - c0,
                        "server": backend_cpu(pid) - s0, "wall": time.perf_counter() - w0}
            if name == "baseline":
                con.execute(f"CREATE TABLE base ({', '.join(f'c{i} text' for i in range(17))})")
                con.commit()
                s0, c0 = backend_cpu(pid), time.process_time()
                for at in range(0, len(base), TX):
                    with con.cursor() as cur, cur.copy(
                            "COPY base FROM STDIN (FORMAT BINARY)") as cp:
                        cp.set_types(["text"] * 17)
                        for row in base[at:at + TX]:
                            cp.write_row(row)
                    con.commit()
                return {"rows": len(base), "cpu": time.process_time() - c0,
                        "server": backend_cpu(pid) - s0}
            ddl, idx = PG_VARIANTS[name]
            con.execute(PG_TABLES.format(**ddl) + idx)
            con.execute("INSERT INTO insurers SELECT generate_series(1, 99)")
            con.commit()
            rows, s0, c0, commit = 0, backend_cpu(pid), time.process_time(), 0.0
            for tx in txs:
                for cs, bs in tx:
                    for table, types, data in (("contracts", C_TYPES, cs),
                                               ("beneficiaries", B_TYPES, bs)):
                        with con.cursor() as cur, cur.copy(
                                f"COPY {table} FROM STDIN (FORMAT BINARY)") as cp:
                            cp.set_types(types)
                            for row in data:
                                cp.write_row(row)
                    rows += len(bs)
                k0 = backend_cpu(pid)
                con.commit()
                commit += backend_cpu(pid) - k0
            return {"rows": rows, "cpu": time.process_time() - c0,
                    "server": backend_cpu(pid) - s0, "server_commit": commit}
    finally:
        with psycopg.connect(PG_URL + "test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def prep_round(people):
    """Validation and cryptography of every members chunk, in this process, per person."""
    import pickle

    from rempart.ingest.errors import Problems
    from rempart.ingest.framing import clean_text, data_chunks, read_head
    from rempart.ingest.pipeline import PreparerConfig
    from rempart.population import sealing
    from rempart.vault import Keyring, Vault
    vault = Vault(Keyring.load(HERE / f"imported-{people}" / "keyring.json"))
    con = sqlite3.connect(HERE / f"imported-{people}.db")
    insurers = dict(con.execute("SELECT amc_number, id FROM insurers"))
    tiers = set(con.execute("SELECT DISTINCT insurer_id, tier FROM guarantees"))
    cpu = time.process_time
    t = dict.fromkeys(("validate", "crypto_required", "content_macs", "prepare_chunk",
                       "transfer"), 0.0)
    n = 0
    for path in members_files():
        head = read_head(path, Problems(path.name))
        preparer = PreparerConfig(insurers=insurers, tiers=tiers, today=dt.date.today(),
                                  mode=head.mode).preparer(vault)
        for first, raw in data_chunks(head):
            c0 = cpu()
            acc = preparer._validate_whole(first, clean_text(raw))
            c1 = cpu()
            ppl, cs = acc.people, acc.contracts
            midx = sealing.member_indexes(vault, acc.member_keys)
            sealing.identity_indexes(vault, ppl)
            sealing.seal_people(vault, ppl, midx)
            cidx = sealing.contract_indexes(vault, [(c[2], c[3]) for c in cs])
            sealing.seal_contract_numbers(vault, [c[3] for c in cs], cidx)
            c2 = cpu()
            sealing.beneficiary_content_macs(vault, ppl, acc.ranks)
            sealing.contract_content_macs(vault, [c[3:] for c in cs])
            c3 = cpu()
            chunk = preparer.prepare_chunk(first, raw)
            c4 = cpu()
            pickle.loads(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))  # noqa: S301 (its own)
            c5 = cpu()
            for k, v in zip(t, (c1 - c0, c2 - c1, c3 - c2, c4 - c3, c5 - c4), strict=True):
                t[k] += v
            n += len(ppl)
    return {"rows": n, **t}


def main():
    global HERE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL at 127.0.0.1:5432 (trust), a database of its own")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=HERE)
    args = parser.parse_args()
    HERE = args.data_dir
    HERE.mkdir(parents=True, exist_ok=True)
    people, pg, rounds = args.people, args.postgres, args.rounds
    PEOPLE[0] = people
    b, c = source(people)
    base = baseline_rows(people)
    if pg:
        b, c = pg_rows(b, c)
    txs = plan(b, c)
    run = pg_round if pg else sqlite_round
    for r in range(rounds):
        load = os.getloadavg()[0]
        out = {"round": r, "people": people, "backend": "pg" if pg else "sqlite",
               "load": round(load, 2)}
        variants = ("bench_baseline", "baseline", "full", "required", "bare")
        for name in variants + (() if pg else ("clustered",)):
            got = run(name, txs, base)
            n = got.pop("rows")
            out[name] = {k: round(v / n * 1e6, 2) for k, v in got.items()}
        got = prep_round(people)
        n = got.pop("rows")
        out["prep"] = {k: round(v / n * 1e6, 2) for k, v in got.items()}
        out["load_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
