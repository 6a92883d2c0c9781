"""Alignment quality through the product's own commands, with their defaults.

For each dataset: ``kgn-align load`` (unless ``--no-load``), ``kgn-align train``,
``kgn-align evaluate`` — the same commands a user runs, nothing re-implemented here.
``evaluate`` judges the edges a default backfill would write over the whole source side,
for the model and its two baselines (everything else equal) in one invocation; see
``kgn-align evaluate --help``. Each command's wall seconds, CPU seconds and peak RSS (of
that process, from ``wait4``) and the load average after it are recorded, so that figures
taken on a busy machine can be told apart::

    KGN_ALIGN_HOME=... .venv/bin/python benchmarks/quality.py dbp15k_fr_en dblp_acm [--no-load]

Needs a graph server: the one ``kgn-align server start`` started under ``KGN_ALIGN_HOME``,
or ``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``. Writes
``benchmarks/results/quality_<dataset>.json`` and prints one summary line per method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = ("dblp_acm", "itunes_amazon")


def run(args: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``kgn-align ARGS`` as its own process (``env``: its environment, default this
    one's); its costs, and its stdout."""
    started = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "kgn_align", *args], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    cost = {"command": "kgn-align " + " ".join(args), "wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "load_average_after": os.getloadavg(),
            "exit_code": code}
    if code != 0:
        raise SystemExit(f"{cost['command']} failed (exit {code}); its log: {log}")
    return {**cost, "stdout": out}


def results_name(dataset: str, ablation: str | None = None, seed: int | None = None) -> str:
    """``quality_<set>[_<ablation>][_seed<N>]``: the results files' stem."""
    return (f"quality_{dataset}{'_' + ablation if ablation else ''}"
            f"{'_seed' + str(seed) if seed is not None else ''}")


def one(dataset: str, load: bool, logs: Path, ablation: str | None = None,
        seed: int | None = None) -> dict[str, Any]:
    steps = {}
    if load:
        kind = "tables" if dataset in TABLES else "kg"
        steps["load"] = run(["load", kind, dataset], logs / f"{dataset}-load.log")
    extra = (["--ablation", ablation] if ablation else []) + (["--seed", str(seed)] if seed is not None else [])
    steps["train"] = run(["train", "--dataset", dataset, *extra], logs / f"{dataset}-train.log")
    out = RESULTS / f"{results_name(dataset, ablation, seed)}.png"
    # the baselines do not change with the training run
    methods = ["--method", "cg-mualign"] if ablation or seed is not None else []
    steps["evaluate"] = run(["evaluate", "--dataset", dataset, "--pr-curve", str(out), *methods],
                            logs / f"{dataset}-evaluate.log")
    text = steps["evaluate"].pop("stdout")
    report = json.loads(text[text.index("{"):])
    for step in steps.values():
        step.pop("stdout", None)
    return {"dataset": dataset, "ablation": ablation, "seed": seed, "evaluate": report, "costs": steps,
            "train_plus_evaluate_s": round(steps["train"]["wall_s"] + steps["evaluate"]["wall_s"], 1),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, m in result["evaluate"]["methods"].items():
        lines.append(
            f"{result['dataset']:<16} {name:<22} P {m['precision']:.4f} R {m['recall']:.4f} "
            f"F1 {m['f1']:.4f}  Hits@1 all {m['all_targets']['hits@1']:.4f} "
            f"protocol {m['protocol']['hits@1']:.4f}  ECE {m['calibration']['ece']:.4f} "
            f"(at threshold {_ece_at_threshold(m)})  "
            f"edges {m['edges']} (other sources {m['edges_on_other_sources']})")
    return lines


def _ece_at_threshold(m: dict[str, Any]) -> str:
    """The ECE of the pairs at or above the threshold (the band edges are written from), or
    a dash for results taken before evaluate reported it."""
    value = m["calibration"].get("ece_at_threshold")
    return "—" if value is None else f"{value:.4f}"


def markdown(datasets: list[str]) -> str:
    """The README's quality table, from the results files of ``datasets``."""
    rows = ["| set (gold) | method | precision / recall / F1 of the written edges | Hits@1 among all open targets / usual protocol | MRR (all) | ECE all pairs / at the threshold | edges on sources outside the gold | train + evaluate (peak RSS) |",
            "|---|---|---|---|---|---|---|---|"]
    for dataset in datasets:
        result = json.loads((RESULTS / f"{results_name(dataset)}.json").read_text())
        ev = result["evaluate"]
        gold = f"{ev['gold_pairs']:,} {'complete' if ev['gold_complete'] else 'held-out'}"
        if ev.get("gold_pairs_settled_by_review"):  # iTunes-Amazon: records in several splits
            gold += (f" judged; {ev['gold_pairs_settled_by_review']} more held out, each source or "
                     "target already in an accepted pair")
        costs = result["costs"]
        cost = (f"{costs['train']['wall_s']:.0f} + {costs['evaluate']['wall_s']:.0f} s "
                f"({max(costs['train']['peak_rss_mb'], costs['evaluate']['peak_rss_mb']):,} MB, "
                f"load {costs['evaluate']['load_average_after'][1]:.1f})")
        best_f1 = max(m["f1"] for m in ev["methods"].values())
        for i, (name, m) in enumerate(ev["methods"].items()):
            bold = "**" if name == "cg-mualign" else ""
            top = "**" if m["f1"] == best_f1 else ""  # the best F1 of the set (ties: each)
            rows.append(
                f"| {dataset + ' (' + gold + ')' if i == 0 else ''} | {bold}{name}{bold} | "
                f"{m['precision']:.4f} / {m['recall']:.4f} / {top}{m['f1']:.4f}{top} | "
                f"{m['all_targets']['hits@1']:.4f} / {m['protocol']['hits@1']:.4f} | "
                f"{m['all_targets']['mrr']:.4f} | {m['calibration']['ece']:.4f} / {_ece_at_threshold(m)} | "
                f"{m['edges_on_other_sources']:,}{' (all wrong)' if m['other_sources_judged_wrong'] else ''} | "
                f"{cost if i == 0 else ''} |")
    return "\n".join(rows)


ABLATIONS = ("no-cross", "no-self", "no-attributes", "uniform-sampling")


def ablation_markdown(datasets: list[str]) -> str:
    """docs/results.md's ablation table: F1 of the written edges / Hits@1 among all open targets
    (the logit weight the validation pairs chose) per training variant, next to the two
    training-free baselines of the full run; "-" where a variant was not run or does not
    apply (no attributes configured)."""
    head = ["full model", *ABLATIONS, "propagation-sinkhorn", "neighbourhood-cosine"]
    rows = ["| set | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for dataset in datasets:
        cells: list[tuple[float, float, str] | None] = []  # F1, Hits@1, the weight chosen
        full = json.loads((RESULTS / f"{results_name(dataset)}.json").read_text())["evaluate"]["methods"]
        for variant in (None, *ABLATIONS):
            path = RESULTS / f"{results_name(dataset, variant)}.json"
            if not path.exists():
                cells.append(None)
                continue
            m = json.loads(path.read_text())["evaluate"]["methods"]["cg-mualign"]
            cells.append((m["f1"], m["all_targets"]["hits@1"], f" ({m['logit_weight']:g})"))
        for name in ("propagation-sinkhorn", "neighbourhood-cosine"):
            m = full[name]
            cells.append((m["f1"], m["all_targets"]["hits@1"], ""))
        best = [max(c[i] for c in cells if c is not None) for i in (0, 1)]  # bold: each best

        def shown(value: float, i: int) -> str:
            return f"**{value:.4f}**" if value == best[i] else f"{value:.4f}"

        rows.append(f"| {dataset} | " + " | ".join(
            "-" if c is None else f"{shown(c[0], 0)} / {shown(c[1], 1)}{c[2]}" for c in cells) + " |")
    return "\n".join(rows)


def seed_markdown(datasets: list[str]) -> str:
    """How much another training seed moves ``cg-mualign``'s F1 and Hits@1 among all open
    targets: the default run (seed 0) and every ``quality_<set>_seed<N>.json`` there is."""
    rows = ["| set | seeds | F1 (min / mean / max) | Hits@1 among all open targets (min / mean / max) | logit weights chosen |",
            "|---|---|---|---|---|"]
    for dataset in datasets:
        paths = [RESULTS / f"{results_name(dataset)}.json",
                 *sorted(RESULTS.glob(f"{results_name(dataset)}_seed*.json"))]
        runs = [json.loads(p.read_text())["evaluate"]["methods"]["cg-mualign"] for p in paths if p.exists()]
        if not runs:
            continue
        f1 = [m["f1"] for m in runs]
        hits = [m["all_targets"]["hits@1"] for m in runs]

        def spread(values: list[float]) -> str:
            return f"{min(values):.4f} / {sum(values) / len(values):.4f} / {max(values):.4f}"

        rows.append(f"| {dataset} | {len(runs)} | {spread(f1)} | {spread(hits)} | "
                    f"{', '.join(format(m['logit_weight'], 'g') for m in runs)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--no-load", action="store_true", help="the datasets are loaded already")
    parser.add_argument("--ablation", choices=ABLATIONS,
                        help="train without cross-graph attention, self-attention or attributes, or "
                        "on uniformly sampled neighbours (results file suffixed)")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated training seeds: train and judge cg-mualign once per "
                        "seed (results files suffixed _seed<N>), to see what another seed moves")
    parser.add_argument("--seed-table", action="store_true",
                        help="print docs/results.md's seed table from the results files; run nothing")
    parser.add_argument("--table", action="store_true",
                        help="print the README's Markdown table from the results files; run nothing")
    parser.add_argument("--ablation-table", action="store_true",
                        help="print docs/results.md's ablation table from the results files; run nothing")
    args = parser.parse_args()
    if args.table:
        print(markdown(args.datasets))
        return
    if args.ablation_table:
        print(ablation_markdown(args.datasets))
        return
    if args.seed_table:
        print(seed_markdown(args.datasets))
        return
    seeds: list[int | None] = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            for i, seed in enumerate(seeds):
                result = one(dataset, not args.no_load and i == 0, Path(tmp), args.ablation, seed)
                path = RESULTS / f"{results_name(dataset, args.ablation, seed)}.json"
                path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
                print("\n".join(summary(result)), flush=True)


if __name__ == "__main__":
    main()
