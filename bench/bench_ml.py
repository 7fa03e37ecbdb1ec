"""ML stage at bench scale: feature build, fit and scoring times, peak memory, scoring rate.

Target (issue #6): figures at bench scale (100,000 customers) for each model: how long the
month's features take to build, each model to fit and to score, the peak memory of each
step, and the scoring rate in customers (or account-days) per second.

    # a warehouse built by the dbt benchmark (kept with --state-dir), then:
    .venv/bin/python bench/bench_ml.py --state-dir /work/bench-state --port 37063

Each step runs in its own child process, so its peak memory is its own. The steps write
their labels as the ML DAG does (`label_*`), then the same models are timed apart: fit
once, score the month's customers once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from warehouse.embedded import server_for
from warehouse.log import setup_logging
from warehouse.settings import Settings


def _features(url: str, month: date) -> dict[str, Any]:
    from ml.features import read_features

    started = time.perf_counter()
    frame = read_features(url, month)
    return {"rows": len(frame), "build_s": time.perf_counter() - started}


def _segments(url: str, month: date) -> dict[str, Any]:
    from sklearn.cluster import KMeans

    from ml.features import read_features
    from ml.segments import RANDOM_STATE, _transform, design_matrix, fit_segments, label_customers

    started = time.perf_counter()
    run = label_customers(url, month)
    labelled = time.perf_counter() - started
    features = read_features(url, month)
    started = time.perf_counter()
    fit = fit_segments(features)
    fit_s = time.perf_counter() - started
    from sklearn.preprocessing import StandardScaler

    raw = design_matrix(features)
    scaler = StandardScaler().fit(_transform(raw))
    scaled = scaler.transform(_transform(raw))
    model = KMeans(n_clusters=fit.n_segments, n_init=1, random_state=RANDOM_STATE).fit(scaled)
    started = time.perf_counter()
    model.predict(scaler.transform(_transform(raw)))
    score_s = time.perf_counter() - started
    return {
        "rows": len(features),
        "label_s": labelled,
        "fit_s": fit_s,
        "score_s": score_s,
        "detail": f"k={run.n_segments}, silhouette {run.silhouette:.3f}",
    }


def _lifecycle(url: str, month: date) -> dict[str, Any]:
    from ml.churn import (
        HORIZON_MONTHS,
        add_months,
        make_churn_model,
        scoring_frame,
        training_set,
    )
    from ml.features import closed_months, read_features
    from ml.lifecycle import HORIZON_WEEKS, BgNbd, label_lifecycle, transaction_history

    started = time.perf_counter()
    run = label_lifecycle(url, month)
    labelled = time.perf_counter() - started
    labelled_months = [
        m for m in closed_months(url, month) if add_months(m, HORIZON_MONTHS) <= month
    ]
    started = time.perf_counter()
    features, labels, _ = training_set(url, labelled_months, read_features)
    training_s = time.perf_counter() - started
    started = time.perf_counter()
    model = make_churn_model().fit(features, labels)
    fit_s = time.perf_counter() - started
    current = scoring_frame(read_features(url, month))
    started = time.perf_counter()
    model.predict_proba(current)
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    history = transaction_history(url, month)
    history_s = time.perf_counter() - started
    started = time.perf_counter()
    bgnbd = BgNbd(penalizer=1e-4).fit(history["frequency"], history["recency"], history["T"])
    bgnbd_fit_s = time.perf_counter() - started
    started = time.perf_counter()
    bgnbd.probability_alive(history["frequency"], history["recency"], history["T"])
    bgnbd.expected_transactions(
        HORIZON_WEEKS, history["frequency"], history["recency"], history["T"]
    )
    bgnbd_score_s = time.perf_counter() - started
    return {
        "rows": len(current),
        "label_s": labelled,
        "training_set_s": training_s,
        "training_rows": len(features),
        "fit_s": fit_s,
        "score_s": score_s,
        "bgnbd_history_s": history_s,
        "bgnbd_fit_s": bgnbd_fit_s,
        "bgnbd_score_s": bgnbd_score_s,
        "bgnbd_rows": len(history),
        "detail": f"churn AUC (time split) {run.churn_auc}, BG/NBD {run.bgnbd_params}",
    }


def _propensity(url: str, month: date) -> dict[str, Any]:
    from ml.features import read_features
    from ml.propensity import WEALTH_FEATURES, label_propensity, wealth_tree

    started = time.perf_counter()
    run = label_propensity(url, month)
    labelled = time.perf_counter() - started
    features = read_features(url, month)
    started = time.perf_counter()
    tree, _ = wealth_tree(features)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    tree.predict_proba(features[WEALTH_FEATURES].fillna(0.0))
    score_s = time.perf_counter() - started
    return {
        "rows": len(features),
        "label_s": labelled,
        "fit_s": fit_s,
        "score_s": score_s,
        "detail": f"tree AUC (cv) {run.wealth_auc:.3f}, {len(run.rules)} rules",
    }


def _anomalies(url: str, month: date) -> dict[str, Any]:
    from ml.anomalies import label_anomalies, read_account_days, score_account_days

    started = time.perf_counter()
    run = label_anomalies(url, month)
    labelled = time.perf_counter() - started
    started = time.perf_counter()
    days = read_account_days(url, month)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    score_account_days(days)
    fit_score_s = time.perf_counter() - started
    return {
        "rows": len(days),
        "label_s": labelled,
        "read_s": read_s,
        "fit_s": fit_score_s,
        "score_s": fit_score_s,
        "detail": f"{run.alerts} alerts; fit and score are one isolation-forest pass",
    }


STEPS: dict[str, Callable[[str, date], dict[str, Any]]] = {
    "features": _features,
    "segments": _segments,
    "lifecycle": _lifecycle,
    "propensity": _propensity,
    "anomalies": _anomalies,
}


def _child(step: str, url: str, month: date, queue: multiprocessing.Queue) -> None:
    setup_logging("WARNING")
    figures = STEPS[step](url, month)
    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="a built warehouse")
    parser.add_argument("--port", type=int, required=True, help="its Postgres port")
    parser.add_argument("--month", type=date.fromisoformat, help="as-of month (default latest)")
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    args = parser.parse_args()
    setup_logging("WARNING")
    settings = Settings.from_env(
        {"CRM_STATE_DIR": str(args.state_dir), "CRM_PG_PORT": str(args.port)}
    )
    if settings.embedded:
        server_for(settings).start()
    url = settings.warehouse_url
    from ml.features import latest_closed_month

    month = args.month or latest_closed_month(url, date.today())
    print(f"ML benchmark on {url.split('@')[-1]}, as-of month {month}")
    context = multiprocessing.get_context("spawn")
    results = {}
    for step in args.steps:
        queue = context.Queue()
        started = time.perf_counter()
        child = context.Process(target=_child, args=(step, url, month, queue))
        child.start()
        figures = queue.get()
        child.join()
        figures["wall_s"] = time.perf_counter() - started
        results[step] = figures
        print(f"  {step}: done in {figures['wall_s']:,.1f} s", flush=True)
    print()
    print(
        f"{'step':<11}{'rows':>10}{'label':>9}{'fit':>9}{'score':>9}{'rate/s':>12}{'peak MiB':>10}"
    )
    for step, f in results.items():
        rate = f["rows"] / f["score_s"] if f.get("score_s") else None
        print(
            f"{step:<11}{f['rows']:>10,}{f.get('label_s', f.get('build_s', 0)):>9.1f}"
            f"{f.get('fit_s', 0):>9.1f}{f.get('score_s', 0):>9.2f}"
            f"{(f'{rate:,.0f}' if rate else '-'):>12}{f['peak_mib']:>10,.0f}"
        )
    for step, f in results.items():
        extra = {
            k: v
            for k, v in f.items()
            if k not in {"rows", "label_s", "fit_s", "score_s", "peak_mib", "wall_s", "detail"}
        }
        if extra or f.get("detail"):
            shown = ", ".join(
                f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in extra.items()
            )
            print(f"  {step}: {f.get('detail', '')} {shown}".rstrip())


if __name__ == "__main__":
    main()
