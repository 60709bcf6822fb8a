"""Srivastava et al. (2015) Fig. 1 on MNIST: plain against highway MLPs of depth 10 to 100.

"Training Very Deep Networks" (NIPS 2015, §3.1 of the NIPS version, §4.1 of arXiv:1507.06228)
trains plain MLPs (71 units per layer) and highway MLPs (50 units) of 10, 20, 50 and 100
layers on MNIST with SGD and momentum, each with its own hyper-parameters from a random search,
and shows that the deep plain nets optimise badly while the highway nets do not. This script
repeats the comparison with the library's `plain_mlp` / `highway_mlp` defaults and the
`srivastava2015-highway-mnist` recipe, in two phases:

1. ``search``: for every network, short runs with each candidate learning rate on a validation
   split carved from the training set (``validation_size``, 10,000 images by default; the test
   set is never looked at). The rate with the lowest final validation error wins (ties: the lower
   final training loss); runs that diverge are out. When the winner is the smallest (largest)
   rate tried, the next rate below (above) on the 1-3-10 grid is tried too (at most
   ``--max-extensions`` times). Writes ``OUT/search.json``.
2. ``final``: every network with its chosen rate on the full 60,000 training images, for
   ``--epochs`` epochs (seed 0; the deepest networks also with the other ``--deep-seeds``).
   Copies each run's results JSON to ``OUT/<model>_s<seed>.json`` and, for the highway nets of
   the first seed, the trained model (preprocessing + network) to ``OUT/<model>_s<seed>.keras``
   (chapter 5 analyses its gates).

``export`` writes ``OUT/<model>_s<seed>.keras`` for finished highway runs of the first seed that
were trained without keeping their model, from their last checkpoint, and checks it: its test
error must equal the one the run recorded.

``table`` prints the Fig. 1 table from the final JSONs (mean and spread over seeds).

Every run goes through :func:`resnet_keras.train.train` (checkpoint every epoch, results JSON
with provenance) under ``--runs``; a rerun skips the runs that finished (completed or diverged)
and resumes an interrupted one from its last checkpoint, so the script can be stopped and
started again at any time. The recipe's exponential decay is rescaled to the shortened run
(``train(epochs=N)``): the learning rate ends at 0.99^400 ≈ 1.8 % of its initial value, as in a
400-epoch run.

Usage (from the repository root; on this CPU the TensorFlow backend without XLA is the fastest
for the 50- and 100-layer nets, see the step-time notes in the report)::

    python tools/highway_fig1.py --phase all                         # search, final, table
    python tools/highway_fig1.py --phase search --lrs 0.01 0.03 0.1
    python tools/highway_fig1.py --phase final --epochs 100 --runs runs/fig1-gpu --out results/gpu/ch05/fig1
    python tools/highway_fig1.py --phase table
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "srivastava2015-highway-mnist"
KINDS = {"plain": "plain_mlp", "highway": "highway_mlp"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", choices=("search", "final", "all", "table", "export"),
                   default="all")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "cpu" / "ch05" / "fig1",
                   help="where search.json and the final runs' JSONs go")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "highway_fig1",
                   help="where train() keeps checkpoints and logs (not committed)")
    p.add_argument("--depths", type=int, nargs="+", default=[10, 20, 50, 100])
    p.add_argument("--kinds", nargs="+", choices=tuple(KINDS), default=list(KINDS))
    p.add_argument("--lrs", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1, 0.3],
                   help="candidate initial learning rates of the search")
    p.add_argument("--max-extensions", type=int, default=2,
                   help="extra candidates past the grid's edge when the best rate is on it")
    p.add_argument("--search-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=40, help="epochs of the final runs")
    p.add_argument("--validation-size", type=int, default=10000,
                   help="training images held out for the search")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and first final run")
    p.add_argument("--deep-seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="seeds of the final runs of the deepest networks")
    p.add_argument("--data-dir", default=None, help="MNIST location (see resnet_keras.data)")
    p.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto")
    args = p.parse_args(argv)
    for name in ("depths", "lrs"):
        values = getattr(args, name)
        if any(v <= (1 if name == "depths" else 0) for v in values):
            p.error(f"--{name.replace('_', '-')} must be positive (depths >= 2). Received: {values}")
    if args.max_extensions < 0:
        p.error(f"--max-extensions must be >= 0. Received: {args.max_extensions}")
    for name in ("search_epochs", "epochs", "validation_size"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive. "
                    f"Received: {getattr(args, name)}")
    args.jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    return args


def networks(args):
    return [f"{KINDS[kind]}{depth}" for depth in sorted(args.depths) for kind in args.kinds]


def run_once(model, out_dir, args, save_model=False, **kwargs):
    """train() once, or the stored results of a finished run (completed or diverged)."""
    from resnet_keras.train import TrainingDiverged, train

    results_path = out_dir / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        if results.get("status") in ("completed", "diverged"):
            return results
    print(f"--> {model} {kwargs} -> {out_dir}", flush=True)
    try:
        return train(model, RECIPE, out_dir=out_dir, data_dir=args.data_dir,
                     jit_compile=args.jit_compile, verbose=2, tensorboard=False,
                     save_model=save_model, **kwargs)
    except TrainingDiverged as err:
        print(f"    diverged: {err}", flush=True)
        return json.loads(results_path.read_text())


def _last(results, key):
    hist = results.get("history") or []
    return hist[-1].get(key) if hist else None


def search(args):
    from resnet_keras.train.results import write_json_atomic

    summary = {
        "recipe": RECIPE,
        "protocol": {
            "what": "per-network search of the initial learning rate (momentum, decay and "
                    "batch size as the recipe); the test set is not used",
            "epochs": args.search_epochs,
            "validation_size": args.validation_size,
            "seed": args.seed,
            "candidates": args.lrs,
            "criterion": "lowest final validation error; ties: lower final training loss; "
                         "diverged runs excluded",
            "extensions": "while the chosen rate is the smallest (largest) one tried, try the "
                          f"next one below (above) on the 1-3-10 grid, at most "
                          f"{args.max_extensions} times",
        },
        "networks": {},
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "provenance": "every candidate row carries its run's environment (backend, device, git "
                      "commit) and start/finish times; the runs' full results.json are under "
                      f"{_display(args.runs)}/search-e{args.search_epochs}/ (not committed)",
    }
    for model in networks(args):
        rows = [_search_run(model, lr, args) for lr in args.lrs]
        chosen = _best(rows)
        for _ in range(args.max_extensions):
            tried = [row["learning_rate"] for row in rows]
            if chosen is None or min(tried) < chosen < max(tried):
                break
            rows.append(_search_run(model, _neighbour(chosen, -1 if chosen == min(tried) else 1),
                                    args))
            chosen = _best(rows)
        summary["networks"][model] = {"candidates": rows, "chosen_learning_rate": chosen}
        print(f"{model}: " + ", ".join(
            f"lr {row['learning_rate']:g}: " + (
                f"val {100 * row['final_val_error']:.2f}% loss {row['final_train_loss']:.2e}"
                if row["status"] == "completed" else "diverged")
            for row in rows) + f"  -> chosen {chosen}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "search.json", summary)  # after each network: partial progress
    return summary


def _search_run(model, lr, args):
    out_dir = args.runs / f"search-e{args.search_epochs}" / f"{model}_lr{lr:g}"
    # test_every=0: train() tests only after the last epoch; the search never reads it
    r = run_once(model, out_dir, args, epochs=args.search_epochs, seed=args.seed,
                 learning_rate=lr, validation_size=args.validation_size, test_every=0)
    hist = r.get("history") or []
    return {
        "learning_rate": lr,
        "status": r["status"],
        "epochs_done": len(hist),
        "final_val_error": _last(r, "val_error"),
        "final_val_loss": _last(r, "val_loss"),
        "final_train_loss": _last(r, "train_loss"),
        "final_train_error": _last(r, "train_error"),
        "val_error_per_epoch": [h["val_error"] for h in hist],
        "train_loss_per_epoch": [h["train_loss"] for h in hist],
        "diverged": r.get("diverged"),
        "model_kwargs": r["model"]["kwargs"],
        "environment": {k: r["environment"].get(k)
                        for k in ("backend", "device", "git_commit", "git_dirty")},
        "train_time_s": r.get("train_time_s"),
        "started_at": r.get("started_at"),
        "finished_at": r.get("finished_at"),
    }


def _best(rows):
    """The learning rate of the lowest final validation error (ties: lower training loss)."""
    ok = [row for row in rows if row["status"] == "completed"
          and row["final_val_error"] is not None and math.isfinite(row["final_val_error"])]
    if not ok:
        return None
    return min(ok, key=lambda row: (round(row["final_val_error"], 6),
                                    row["final_train_loss"]))["learning_rate"]


def _neighbour(lr, direction):
    """The next rate on the 1-3-10 grid below (direction -1) or above (+1) `lr`."""
    v = lr * 10 ** (0.5 * direction)
    e = math.floor(math.log10(v))
    m = v / 10**e
    return float(f"{(1 if m < 2 else 3 if m < 6 else 10) * 10.0**e:.12g}")


def final(args):
    search_path = args.out / "search.json"
    if not search_path.is_file():
        raise SystemExit(f"{search_path} is missing: run --phase search first.")
    chosen = {m: v["chosen_learning_rate"]
              for m, v in json.loads(search_path.read_text())["networks"].items()}
    deepest = max(args.depths)
    for model in networks(args):
        lr = chosen.get(model)
        if lr is None:
            print(f"{model}: no learning rate chosen (not searched, or every candidate "
                  "diverged); skipped.", flush=True)
            continue
        depth = int(model.rsplit("mlp", 1)[1])
        for seed in (args.deep_seeds if depth == deepest else [args.seed]):
            out_dir = args.runs / f"final-e{args.epochs}" / f"{model}_s{seed}_lr{lr:g}"
            # the trained highway nets of the first seed are kept for chapter 5's gate analysis
            keep = model.startswith(KINDS["highway"]) and seed == args.seed
            run_once(model, out_dir, args, save_model=keep, epochs=args.epochs, seed=seed,
                     learning_rate=lr)
            shutil.copyfile(out_dir / "results.json", args.out / f"{model}_s{seed}.json")
            if keep and (out_dir / "model.keras").is_file():
                shutil.copyfile(out_dir / "model.keras", args.out / f"{model}_s{seed}.keras")


def export(args):
    """The trained highway nets of the first seed as .keras files, rebuilt from the checkpoints."""
    import keras
    import numpy as np

    from resnet_keras import data as data_lib
    from resnet_keras.models import get_model
    from resnet_keras.train import checkpoint, get_recipe

    recipe = get_recipe(RECIPE)
    ds = None
    for model in networks(args):
        if not model.startswith(KINDS["highway"]):
            continue
        target = args.out / f"{model}_s{args.seed}.keras"
        stored = args.out / f"{model}_s{args.seed}.json"
        if target.is_file() or not stored.is_file():
            continue
        results = json.loads(stored.read_text())
        lr = results["hyperparameters"]["learning_rate"]
        run_dir = args.runs / f"final-e{results['hyperparameters']['epochs']}" / \
            f"{model}_s{args.seed}_lr{lr:g}"
        state = checkpoint.read_state(run_dir / "checkpoint")
        if results["status"] != "completed" or state is None or not state.get("finished"):
            print(f"{model}: no finished checkpoint in {run_dir}; skipped.", flush=True)
            continue
        if ds is None:
            ds = data_lib.load_dataset(recipe.dataset, data_dir=args.data_dir)
            mean, std = data_lib.normalization_stats(ds.x_train, recipe.normalization)
        net = get_model(model, num_classes=ds.num_classes, **results["model"]["kwargs"])
        full = data_lib.with_preprocessing(net, ds.image_shape, mean, std, augment=False,
                                           padding=0, flip=False, seed=args.seed)
        full.load_weights(str(run_dir / "checkpoint" / state["weights_file"]))
        logits = full.predict(ds.x_test, batch_size=1000, verbose=0)
        error = float(np.mean(np.argmax(logits, axis=-1) != ds.y_test))
        if abs(error - results["final_test_error"]) > 1e-4:
            raise SystemExit(f"{model}: the rebuilt model's test error {error:.4%} differs from "
                             f"the recorded {results['final_test_error']:.4%}; not exported.")
        full.save(str(target))
        print(f"{model}: {target} (test error {error:.2%}, as recorded)", flush=True)
        keras.backend.clear_session()


def table(args):
    from resnet_keras.stats import mean_std

    rows = ["| depth | network | lr | epochs | seeds | final train loss | final train error % "
            "| test error % | diverged |", "|---|---|---|---|---|---|---|---|---|"]
    for model in networks(args):
        runs = [json.loads(p.read_text()) for p in sorted(args.out.glob(f"{model}_s*.json"))]
        if not runs:
            continue
        ok = [r for r in runs if r["status"] == "completed"]

        def stat(values, scale=1.0, fmt="{:.3g}"):
            values = [scale * x for x in values if x is not None]
            if not values:
                return "-"
            mean, std, _ = mean_std(values)
            return fmt.format(mean) + (f" ± {fmt.format(std)}" if std is not None else "")

        depth = model.rsplit("mlp", 1)[1]
        rows.append(
            f"| {depth} | {model.split('_')[0]} | {runs[0]['hyperparameters']['learning_rate']:g} "
            f"| {runs[0]['hyperparameters']['epochs']} | {','.join(str(r['seed']) for r in runs)} "
            f"| {stat([_last(r, 'train_loss') for r in ok])} "
            f"| {stat([_last(r, 'train_error') for r in ok], 100, '{:.2f}')} "
            f"| {stat([r['final_test_error'] for r in ok], 100, '{:.2f}')} "
            f"| {len(runs) - len(ok)}/{len(runs)} |"
        )
    print("\n".join(rows))
    return rows


def _display(path):
    """`path` relative to the repository root when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv=None):
    args = parse_args(argv)
    if args.phase in ("search", "all"):
        search(args)
    if args.phase in ("final", "all"):
        final(args)
    if args.phase == "export":
        export(args)
    if args.phase in ("final", "all", "table"):
        table(args)


if __name__ == "__main__":
    main()
