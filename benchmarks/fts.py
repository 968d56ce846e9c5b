"""The trigram index's benchmark: a selective ``name LIKE '%...%'`` (< 1% matches) read
through the index and through the full-collection path, and what the index adds to each
create and rename. DynamoDB Local only (SQLite has no index to compare).

    .venv/bin/python -m benchmarks.fts [--experiments 10000] [--runs 20000] [--models 5000]
        [--versions 1]
    # or load a running DynamoDB Local once and measure it as often as needed:
    .venv/bin/python -m benchmarks.fts --uri dynamodb://127.0.0.1:8765/fts --phase load
    .venv/bin/python -m benchmarks.fts --uri dynamodb://127.0.0.1:8765/fts --phase measure

Names come from a generator shaped like real ones: experiments ``<team>-<task>-<family>-
<yyyy-mm-dd>``, runs MLflow's own ``<adjective>-<animal>-<n>``, models
``<team>_<task>_<family>_v<n>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

TEAMS = [
    "fraud",
    "risk",
    "search",
    "ads",
    "growth",
    "vision",
    "speech",
    "nlp",
    "recsys",
    "pricing",
    "ops",
    "infra",
]
TASKS = [
    "churn",
    "ranking",
    "detection",
    "forecast",
    "embedding",
    "ner",
    "ocr",
    "retrieval",
    "tagging",
    "uplift",
]
FAMILIES = [
    "xgboost",
    "lightgbm",
    "bert",
    "resnet",
    "llama",
    "gpt2",
    "t5",
    "catboost",
    "prophet",
    "mlp",
]
ADJECTIVES = [
    "able",
    "bold",
    "calm",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "icy",
    "jolly",
    "keen",
    "lucky",
    "merry",
    "nifty",
    "proud",
    "quick",
    "rare",
    "shy",
    "tidy",
    "vast",
    "warm",
    "zesty",
    "brave",
    "clever",
    "dizzy",
    "fuzzy",
    "grumpy",
    "hazy",
    "jumpy",
    "lazy",
]
ANIMALS = [
    "ant",
    "bat",
    "cat",
    "doe",
    "eel",
    "fox",
    "gnu",
    "hen",
    "ibis",
    "jay",
    "kiwi",
    "lark",
    "mole",
    "newt",
    "owl",
    "pig",
    "quail",
    "ram",
    "seal",
    "toad",
    "vole",
    "wasp",
    "yak",
    "zebu",
    "asp",
    "bee",
    "carp",
    "crab",
    "crow",
    "deer",
    "dove",
    "duck",
    "elk",
    "finch",
    "frog",
    "goat",
    "hare",
    "hawk",
    "lamb",
    "lion",
    "lynx",
    "mink",
    "moth",
    "mule",
    "orca",
    "panda",
    "pony",
    "puma",
    "rat",
    "rook",
    "shad",
    "slug",
    "swan",
    "tern",
    "trout",
    "wolf",
    "worm",
    "wren",
    "koala",
    "lemur",
    "otter",
    "sloth",
    "tapir",
    "bison",
    "camel",
    "gecko",
    "hyena",
    "llama",
    "moose",
    "okapi",
    "quokka",
    "raven",
    "robin",
    "skunk",
    "stork",
    "tiger",
    "viper",
    "whale",
]


def experiment_names(n: int, rng: random.Random) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < n:
        day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        t, k, f = rng.choice(TEAMS), rng.choice(TASKS), rng.choice(FAMILIES)
        names[f"{t}-{k}-{f}-{day}-{rng.randint(0, 99)}"] = None
    return list(names)


def run_name(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(ANIMALS)}-{rng.randint(0, 999)}"


def model_names(n: int, rng: random.Random) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < n:
        t, k, f = rng.choice(TEAMS), rng.choice(TASKS), rng.choice(FAMILIES)
        names[f"{t}_{k}_{f}_v{rng.randint(1, 400)}"] = None
    return list(names)


class _Reads:
    """Counts what a search reads: posting entries (Query items under ``FTS#`` keys) and the
    keys it batch-gets (the candidates, for the indexed path)."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.postings = 0
        self.postings_rcu = 0.0
        self.batch_keys = 0

    def __enter__(self) -> _Reads:
        query_page, batch_get = self.gateway.query_page, self.gateway.batch_get

        def query_rcu() -> float:
            op = self.gateway.stats.snapshot().get("Query")
            return op.read_capacity if op else 0.0

        def counted_query_page(key_condition, **kwargs):
            before = query_rcu()
            items, last = query_page(key_condition, **kwargs)
            postings = sum(str(i.get("PK", "")).startswith("FTS#") for i in items)
            self.postings += postings
            if postings:  # (an empty Query reports no read units on DynamoDB Local)
                self.postings_rcu += query_rcu() - before
            return items, last

        def counted_batch_get(keys, **kwargs):
            keys = list(keys)
            self.batch_keys += len(keys)
            return batch_get(keys, **kwargs)

        self.gateway.query_page = counted_query_page
        self.gateway.batch_get = counted_batch_get
        return self

    def __exit__(self, *exc: object) -> None:
        del self.gateway.query_page
        del self.gateway.batch_get


def _measure(stats, call, gateway=None) -> dict[str, Any]:
    stats.reset()
    reads = _Reads(gateway) if gateway is not None else None
    start = time.perf_counter()
    if reads:
        with reads:
            result = call()
    else:
        result = call()
    seconds = time.perf_counter() - start
    snap = stats.snapshot()
    measured = {
        "matches": len(result),
        "requests": {op: s.requests for op, s in snap.items()},
        "rcu_by_operation": {op: round(s.read_capacity, 1) for op, s in snap.items()},
        "rcu": round(sum(s.read_capacity for s in snap.values()), 1),
        "wcu": round(sum(s.write_capacity for s in snap.values()), 1),
        "seconds": round(seconds, 3),
    }
    if reads:
        measured["posting_entries_read"] = reads.postings
        measured["postings_rcu"] = round(reads.postings_rcu, 1)
        measured["keys_batch_read"] = reads.batch_keys
    return measured


def _both_paths(stats, call, gateway) -> dict[str, Any]:
    """The search through the index (readiness already cached, as in a running server),
    then with the index reported not ready (the full-collection path)."""
    from mlflow_dynamodbstore.fts import lookup

    indexed = _measure(stats, call, gateway)
    original = lookup.READINESS.is_ready
    lookup.READINESS.is_ready = lambda gateway, field: False
    try:
        full = _measure(stats, call)
    finally:
        lookup.READINESS.is_ready = original
    assert indexed["matches"] == full["matches"], (indexed, full)
    # the least the index could read: the matching items (0.5 RCU each, eventually
    # consistent BatchGetItem of an item under 4 KB) plus the posting lists it did read
    floor = indexed["matches"] * 0.5 + indexed["postings_rcu"]
    return {
        "indexed": indexed,
        "full": full,
        "full_over_indexed": round(full["rcu"] / indexed["rcu"], 1) if indexed["rcu"] else None,
        "indexed_over_matches_plus_postings": round(indexed["rcu"] / floor, 2) if floor else None,
    }


def _stores(uri: str):
    from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    return DynamoDBTrackingStore(uri, "s3://bench/artifacts"), DynamoDBRegistryStore(uri)


def measure_writes(tracking, registry) -> dict[str, Any]:
    """What one create and one rename cost (requests, units as DynamoDB Local reports)."""
    from mlflow.entities import RunStatus

    stats = tracking.gateway.stats
    one = {
        "create_experiment": _measure(stats, lambda: [tracking.create_experiment(
            "fraud-churn-xgboost-2025-01-01-x")]),
        "create_run": _measure(stats, lambda: [tracking.create_run(
            "0", "u", 0, [], "brave-quokka-7")]),
        "create_registered_model": _measure(stats, lambda: [registry.create_registered_model(
            "fraud_churn_xgboost_v0")]),
        "rename_registered_model": _measure(stats, lambda: [registry.rename_registered_model(
            "fraud_churn_xgboost_v0", "fraud_churn_catboost_v0")]),
    }  # fmt: skip
    exp = tracking.get_experiment_by_name("fraud-churn-xgboost-2025-01-01-x").experiment_id
    one["rename_experiment"] = _measure(
        stats,
        lambda: [tracking.rename_experiment(exp, "fraud-churn-catboost-2025-01-01-x")],
    )
    run_id = tracking.create_run("0", "u", 0, [], "brave-quokka-8").info.run_id
    one["rename_run"] = _measure(
        stats, lambda: [tracking.update_run_info(run_id, RunStatus.RUNNING, None, "shy-orca-9")]
    )
    return one


class BulkWrites:
    """Load mode: each create runs the store's own code, but the items of its transaction
    are sent as BatchWriteItem (25 a request) instead of one TransactWriteItems per create
    (DynamoDB Local writes transactions several times slower). Updates (the experiment id
    counter) are applied at once so the next create reads the new value; conditions are
    dropped (the generated names are unique). Not for anything but loading fresh data."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.pending: list[dict] = []
        self.lock = threading.Lock()

    def transact_write(self, actions, **_: Any) -> None:
        requests = []
        for action in actions:
            if "Put" in action:
                requests.append({"PutRequest": {"Item": action["Put"]["Item"]}})
            elif "Delete" in action:
                requests.append({"DeleteRequest": {"Key": action["Delete"]["Key"]}})
            elif "Update" in action:
                self.gateway.client.update_item(**action["Update"])
        with self.lock:
            self.pending.extend(requests)
            full, self.pending = self._cut(self.pending)
        for chunk in full:
            self._send(chunk)

    @staticmethod
    def _cut(pending: list[dict]) -> tuple[list[list[dict]], list[dict]]:
        whole = len(pending) - len(pending) % 25
        return [pending[i : i + 25] for i in range(0, whole, 25)], pending[whole:]

    def _send(self, chunk: list[dict]) -> None:
        request = {self.gateway.table_name: chunk}
        while request:
            request = self.gateway.client.batch_write_item(RequestItems=request).get(
                "UnprocessedItems"
            )
            if request:
                time.sleep(0.05)

    def flush(self) -> None:
        with self.lock:
            rest, self.pending = self.pending, []
        for i in range(0, len(rest), 25):
            self._send(rest[i : i + 25])


def load(tracking, registry, args, log=lambda m: print(m, flush=True)) -> str:
    """Create the collections through the store's own calls (the postings are built with
    each entity, as in production; see BulkWrites for how they are sent). Returns the id of
    the experiment holding the runs."""
    rng = random.Random(42)
    exp_id = tracking.create_experiment(RUNS_HOME)
    experiments = experiment_names(args.experiments, rng)
    runs = [run_name(rng) for _ in range(args.runs)]
    models = model_names(args.models, rng)
    gateways = {id(g): g for g in (tracking.gateway.unscoped, registry.gateway.unscoped)}
    writers = [BulkWrites(g) for g in gateways.values()]
    for writer in writers:
        writer.gateway.transact_write = writer.transact_write
    try:
        batches = [
            # one thread: each create reads and moves the id counter
            ("experiments", 1, tracking.create_experiment, experiments),
            ("runs", args.threads, lambda n: tracking.create_run(exp_id, "u", 0, [], n), runs),
            ("models", args.threads, registry.create_registered_model, models),
            # versions of every model, so the version searches' full path has some to read
            ("versions", args.threads,
             lambda n: registry.create_model_version(n, "s3://bench/m", run_id="r"),
             [n for n in models for _ in range(args.versions)]),
        ]  # fmt: skip
        for what, threads, create, names in batches:
            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                for i in range(0, len(names), 1000):
                    list(pool.map(create, names[i : i + 1000]))
                    done = i + len(names[i : i + 1000])
                    log(f"{what}: {done} in {time.perf_counter() - start:.0f}s")
            for writer in writers:  # the next batch reads what this one wrote
                writer.flush()
    finally:
        for writer in writers:
            writer.flush()
            del writer.gateway.transact_write
    return exp_id


RUNS_HOME = "runs-home"


# (collection, pattern): the benchmark's first figures (2,000 / 4,000 / 1,000) used the first
# of each; the others are the more selective patterns (< 1% matches) the target names.
SEARCHES = [
    ("experiments", "%ocr-bert-2025-03%"),
    ("experiments", "%fraud-churn-xgboost%"),
    ("runs", "%-quokka-%"),
    ("runs", "%-quokka-1%"),
    ("runs", "%lazy-quokka%"),
    ("registered_models", "%speech_ocr_t5%"),
    ("registered_models", "%v123%"),
    ("model_versions", "%speech_ocr_t5%"),
    ("model_versions", "%v123%"),
]


def measure_searches(tracking, registry, exp_id: str) -> dict[str, Any]:
    from mlflow.entities import ViewType

    # both stores of one URI share the connection, its gateway and its counters
    assert tracking.gateway.unscoped is registry.gateway.unscoped
    stats = tracking.gateway.stats
    gateway = tracking.gateway.unscoped
    calls = {
        "experiments": lambda p: tracking.search_experiments(
            filter_string=f"name LIKE '{p}'", max_results=1000, view_type=ViewType.ALL
        ),
        "runs": lambda p: tracking.search_runs(
            [exp_id], f"run_name LIKE '{p}'", ViewType.ALL, max_results=1000
        ),
        "registered_models": lambda p: registry.search_registered_models(
            filter_string=f"name LIKE '{p}'", max_results=1000
        ),
        "model_versions": lambda p: registry.search_model_versions(
            filter_string=f"name LIKE '{p}'", max_results=1000
        ),
    }
    # readiness is cached per process after the first search of each field
    for call in calls.values():
        call("%warm-up%")
    report: dict[str, Any] = {}
    for collection, pattern in SEARCHES:
        search = calls[collection]
        report[f"{collection} {pattern}"] = _both_paths(
            stats, lambda search=search, pattern=pattern: search(pattern), gateway
        )
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=5_000)
    parser.add_argument("--versions", type=int, default=1, help="versions per model")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    parser.add_argument(
        "--uri",
        help="an existing table (dynamodb://host:port/table) to load once and measure many "
        "times; without it a fresh in-memory DynamoDB Local is started and stopped",
    )
    parser.add_argument("--phase", choices=["all", "load", "measure"], default="all")
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal

    report: dict[str, Any] = {"counts": vars(args) | {"out": str(args.out)}}
    local = None if args.uri else DynamoDBLocal().start()
    try:
        uri = args.uri or f"dynamodb://127.0.0.1:{local.port}/fts-{uuid.uuid4().hex[:8]}"
        tracking, registry = _stores(uri)
        if args.phase in ("all", "load"):
            report["writes"] = measure_writes(tracking, registry)
            start = time.perf_counter()
            exp_id = load(tracking, registry, args)
            report["load_seconds"] = round(time.perf_counter() - start, 1)
        else:
            exp_id = tracking.get_experiment_by_name(RUNS_HOME).experiment_id
        if args.phase in ("all", "measure"):
            report |= measure_searches(tracking, registry, exp_id)
    finally:
        if local:
            local.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"benchmark-fts-{args.phase}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
