"""The import's parts measured apart, in one process, CPU time per person.

    PYTHONPATH=src python scripts/bench_import_parts.py --people N [--postgres]
        [--data-dir DIR]

Parts: validation (clean_text + MemberPreparer._validate_whole), each cryptographic
column (the real sealing functions), the whole prepare_chunk, pickling a prepared chunk
there and back (the worker hand-off), then the real MembersApplier writing the prepared
chunks into a fresh database migrated by rempart, one transaction per members file
(server CPU from /proc on PostgreSQL), the commit, and the bench's baseline insert of
the same rows, all in the same run. Floors: one bare AESGCM.encrypt and one bare
hmac.digest per operation, from Python. The population (seed 1) is generated once into
DIR and reused. Prints one JSON line (docs/scale.md, "The bound, measured again").
"""
import argparse
import hmac
import json
import os
import pickle
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from rempart.bench import import_bench
from rempart.bench.baseline import insert_baseline
from rempart.ingest.bulk import bulk_for, references_checked_here
from rempart.ingest.errors import Problems
from rempart.ingest.formats import FileKind
from rempart.ingest.framing import clean_text, data_chunks, read_head
from rempart.ingest.members_store import MembersApplier
from rempart.ingest.pipeline import PreparerConfig
from rempart.ingest.service import Importer
from rempart.population import sealing
from rempart.population.models import Guarantee, Insurer
from rempart.runtime import Runtime
from rempart.synth import generate_population

TICK = os.sysconf("SC_CLK_TCK")
cpu = time.process_time


def bench_db_cpu(name):
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                line = fh.read()
            if not line.startswith(b"postgres:") or name.encode() not in line:
                continue
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / TICK
        except OSError:
            continue
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL at 127.0.0.1:5432/test (trust), a database of its own")
    parser.add_argument("--data-dir", type=Path, default=Path("import-bound"))
    args = parser.parse_args()
    people, pg = args.people, args.postgres
    out = {"people": people, "backend": "postgresql" if pg else "sqlite",
           "load_before": [round(x, 2) for x in os.getloadavg()]}
    pop = args.data_dir / f"pop-{people}"
    if not pop.exists():
        generate_population(out=pop, people=people, seed=1)
    files = sorted(pop.iterdir())
    with tempfile.TemporaryDirectory(prefix="importbal-") as tmp:
        url = "postgresql://postgres@127.0.0.1:5432/test" if pg else None
        with import_bench._database(Path(tmp), url) as settings:
            dbname = settings.database_url.rsplit("/", 1)[1]
            runtime = Runtime.open(settings, create_keys=True)
            try:
                run(runtime, files, people, out, dbname if pg else None)
            finally:
                runtime.close()
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


def run(runtime, files, people, out, dbname):
    vault, engine = runtime.vault, runtime.engine
    heads = []
    others = []
    for path in files:
        head = read_head(path, Problems(path.name)) if path.suffix != ".json" else None
        if head is not None and head.kind is FileKind.MEMBERS:
            heads.append(head)
        elif head is not None:
            others.append(path)
    Importer(engine=engine, vault=vault, clock=runtime.clock, workers=0).import_paths(
        paths=others)
    with engine.connect() as conn:
        insurers = {a: i for a, i in conn.execute(select(Insurer.amc_number, Insurer.id))}
        tiers = {(i, t) for i, t in conn.execute(
            select(Guarantee.insurer_id, Guarantee.tier).distinct())}
    now = runtime.clock.now()
    raws = [list(data_chunks(h)) for h in heads]
    t = dict.fromkeys(("validate", "member_idx", "identity_idx", "person_mac", "seal_person",
                       "contract_idx", "seal_contract", "contract_mac", "contract_parts",
                       "prepare_chunk", "pickle_dumps", "pickle_loads"), 0.0)
    persons = contracts = 0
    plaintexts = []
    prepared = []
    for head, chunks in zip(heads, raws, strict=True):
        preparer = PreparerConfig(insurers=insurers, tiers=tiers, today=now.date(),
                                  mode=head.mode).preparer(vault)
        file_chunks = []
        for first_line, raw in chunks:
            c0 = cpu()
            acc = preparer._validate_whole(first_line, clean_text(raw))
            c1 = cpu()
            if acc is None:
                raise SystemExit("a chunk needed the careful path")
            t["validate"] += c1 - c0
            people = acc.people
            c0 = cpu()
            midx = sealing.member_indexes(vault, acc.member_keys)
            c1 = cpu()
            sealing.identity_indexes(vault, people)
            c2 = cpu()
            sealing.beneficiary_content_macs(vault, people, acc.ranks)
            c3 = cpu()
            sealing.seal_people(vault, people, midx)
            c4 = cpu()
            cs = acc.contracts
            cidx = sealing.contract_indexes(vault, [(c[2], c[3]) for c in cs])
            c5 = cpu()
            sealing.seal_contract_numbers(vault, [c[3] for c in cs], cidx)
            c6 = cpu()
            sealing.contract_content_macs(vault, [c[3:] for c in cs])
            c7 = cpu()
            preparer._seal_contracts(cs)
            c8 = cpu()
            t["member_idx"] += c1 - c0
            t["identity_idx"] += c2 - c1
            t["person_mac"] += c3 - c2
            t["seal_person"] += c4 - c3
            t["contract_idx"] += c5 - c4
            t["seal_contract"] += c6 - c5
            t["contract_mac"] += c7 - c6
            t["contract_parts"] += c8 - c7  # the whole _seal_contracts, to compare
            persons += len(people)
            contracts += len(cs)
            if len(plaintexts) < 20000:
                plaintexts.extend("\x1f".join(p).encode() for p in people)
            c0 = cpu()
            chunk = preparer.prepare_chunk(first_line, raw)
            c1 = cpu()
            blob = pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)
            c2 = cpu()
            chunk = pickle.loads(blob)  # noqa: S301 (its own)
            c3 = cpu()
            t["prepare_chunk"] += c1 - c0
            t["pickle_dumps"] += c2 - c1
            t["pickle_loads"] += c3 - c2
            file_chunks.append(chunk)
        prepared.append((head, file_chunks))
    out["persons"] = persons
    out["contracts_per_person"] = round(contracts / persons, 3)
    out["prep_us"] = {k: round(v / persons * 1e6, 2) for k, v in t.items()}
    # Floors: one C call per operation from a Python loop, nothing around it.
    aead = AESGCM(os.urandom(32))
    key = os.urandom(32)
    nonces = [os.urandom(12) for _ in plaintexts]
    aad = b"beneficiary\x00" + os.urandom(16)
    c0 = cpu()
    for nonce, text in zip(nonces, plaintexts, strict=True):
        aead.encrypt(nonce, text, aad)
    c1 = cpu()
    for text in plaintexts:
        hmac.digest(key, text, "sha256")
    c2 = cpu()
    out["floor_us"] = {"aesgcm_encrypt": round((c1 - c0) / len(plaintexts) * 1e6, 3),
                       "hmac_sha256": round((c2 - c1) / len(plaintexts) * 1e6, 3),
                       "plaintext_bytes": round(sum(map(len, plaintexts)) / len(plaintexts), 1)}
    # The writes: the real applier, one transaction per file, as the importer does.
    w = {"apply": 0.0, "commit": 0.0, "server_apply": 0.0, "server_commit": 0.0}
    for head, file_chunks in prepared:
        with engine.connect() as conn, references_checked_here(conn):
            tx = conn.begin()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            s0 = bench_db_cpu(dbname) if dbname else 0.0
            c0 = cpu()
            applier = MembersApplier(bulk=bulk_for(conn, now), vault=vault,
                                     problems=Problems(head.path.name))
            for chunk in file_chunks:
                applier.apply(chunk)
            applier.finish()
            c1 = cpu()
            s1 = bench_db_cpu(dbname) if dbname else 0.0
            tx.commit()
            c2 = cpu()
            s2 = bench_db_cpu(dbname) if dbname else 0.0
        w["apply"] += c1 - c0
        w["commit"] += c2 - c1
        w["server_apply"] += s1 - s0
        w["server_commit"] += s2 - s1
    out["write_us"] = {k: round(v / persons * 1e6, 2) for k, v in w.items()}
    members = [h.path for h in heads]
    s0 = bench_db_cpu(dbname) if dbname else 0.0
    c0, w0 = cpu(), time.perf_counter()
    rows = insert_baseline(engine, members)
    c1, w1 = cpu(), time.perf_counter()
    s1 = bench_db_cpu(dbname) if dbname else 0.0
    out["baseline_us"] = {"client_cpu": round((c1 - c0) / rows * 1e6, 2),
                          "server_cpu": round((s1 - s0) / rows * 1e6, 2),
                          "wall": round((w1 - w0) / rows * 1e6, 2)}


if __name__ == "__main__":
    main()
