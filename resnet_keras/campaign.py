"""The book's campaign: every training run the chapters present, and the command that runs them.

Paper-scale runs take hours of accelerator time that a reader of the book does not have, so
they are produced apart from the notebooks, kept in the repository as results JSON, and the
notebooks present them (:meth:`resnet_keras.notebook.NotebookEnv.experiment`). This module

* lists the runs (:data:`CAMPAIGN`): chapter, run name, model, recipe, seed, priority;
* says what a run is at each scale (:data:`SCALES`: ``paper``, the papers' full runs;
  ``local``, scaled-down runs that take minutes on a laptop CPU; ``smoke``, seconds-long runs
  for CI) and its spec fingerprint there (:func:`resnet_keras.train.results.run_spec`);
* runs the missing ones in priority order within a time budget, several at once
  (``python -m resnet_keras campaign``), each to ``<results>/<chapter>/<run>.json``;
* takes in results made elsewhere after checking them (``campaign --ingest DIR``).

A run longer than one budget stops cleanly after an epoch (``status: "stopped"``, its
checkpoint in the work folder) and continues from that checkpoint the next time the campaign
runs with the same work folder: on the lent GPU machines the work folder travels out and back
in (``tools/gpu/README.md``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from resnet_keras.model_names import parse_model_name

__all__ = ["CAMPAIGN", "SCALES", "CampaignRun", "find_run", "runs_for"]

SCALES = {
    # The papers' full runs.
    "paper": {},
    # A few thousand images and a few epochs: a chapter's runs take minutes on a laptop CPU.
    "local": {"epochs": 8, "limit_train": 4000, "limit_val": 1000, "limit_test": 2000},
    # Seconds: proves the code runs (CI); the numbers mean nothing.
    "smoke": {"epochs": 1, "limit_train": 256, "limit_val": 128, "limit_test": 256},
}
# results/<dir>/<chapter>/<run>.json; paper-scale runs need an accelerator, hence "gpu".
RESULTS_DIRS = {"paper": "gpu", "local": "local", "smoke": "smoke"}


def smoke_model(name):
    """The smallest model of the same kind, for the smoke scale ("resnet56" -> "resnet8")."""
    builder, depth, _ = parse_model_name(name)
    if builder in ("highway_mlp", "plain_mlp"):
        return f"{builder}{min(depth, 3)}"
    if builder == "resnet_imagenet":
        return name
    return re.sub(r"\d+", "8", name, count=1)


@dataclasses.dataclass(frozen=True)
class CampaignRun:
    """One training run of the book.

    Attributes:
        chapter: the chapter that presents it, e.g. "ch02".
        name: the run's name in the chapter (its results file is ``<chapter>/<name>.json``).
        model: model name (:mod:`resnet_keras.model_names`).
        recipe: recipe name (:data:`resnet_keras.train.RECIPES`).
        priority: 1 (first) to 5; the campaign runs lower numbers first.
        seed: the run's seed.
        overrides: recipe fields changed for this run.
        model_args: builder arguments on top of the recipe's ``model_kwargs``.
        local_model: the model trained at the ``local`` (and ``smoke``) scale instead of
            `model` (e.g. a ResNet-20 stands in for a ResNet-110 that a CPU cannot train in
            minutes).
        local_scale: this run's ``local`` scale, replacing :data:`SCALES` ``["local"]``.
        keep_model: keep the trained ``model.keras`` beside the results (chapters that analyse
            the trained network).
        what: one line on what the run shows (the paper's number it is compared with).
    """

    chapter: str
    name: str
    model: str
    recipe: str
    priority: int
    seed: int = 0
    overrides: dict = dataclasses.field(default_factory=dict)
    model_args: dict = dataclasses.field(default_factory=dict)
    local_model: str | None = None
    local_scale: dict | None = None
    keep_model: bool = False
    what: str = ""

    def __post_init__(self):
        from resnet_keras.train.recipes import get_recipe

        parse_model_name(self.model)
        if self.local_model is not None:
            parse_model_name(self.local_model)
        get_recipe(self.recipe).replace(**self.overrides)
        if self.priority not in (1, 2, 3, 4, 5):
            raise ValueError(f"priority must be 1 to 5; got {self.priority}")

    @property
    def key(self):
        return f"{self.chapter}/{self.name}"

    def model_at(self, scale):
        if scale == "smoke":
            return smoke_model(self.local_model or self.model)
        if scale == "local" and self.local_model:
            return self.local_model
        return self.model

    def scale_args(self, scale):
        """``epochs``/``limit_*`` keyword arguments of :func:`train` at `scale`."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}; got {scale!r}")
        if scale == "local" and self.local_scale is not None:
            return dict(self.local_scale)
        return dict(SCALES[scale])

    def spec(self, scale, precision="fp32"):
        from resnet_keras.train.recipes import get_recipe
        from resnet_keras.train.results import run_spec

        args = self.scale_args(scale)
        recipe = get_recipe(self.recipe).replace(**self.overrides)
        return run_spec(
            self.model_at(scale), recipe, seed=self.seed, precision=precision,
            epochs=args.get("epochs"), steps=args.get("steps"), scale=args.get("scale"),
            limits={"train": args.get("limit_train"), "validation": args.get("limit_val"),
                    "test": args.get("limit_test")},
            model_overrides=self.model_args or None,
        )

    def fingerprint(self, scale, precision="fp32"):
        from resnet_keras.train.results import fingerprint

        return fingerprint(self.spec(scale, precision))

    def train_kwargs(self, scale, precision="fp32"):
        """Arguments of :func:`resnet_keras.train.train` that make this run at `scale`
        (``model`` and ``recipe`` included; add ``out_dir``, ``data_dir`` ...)."""
        return dict(model=self.model_at(scale), recipe=self.recipe, seed=self.seed,
                    precision=precision, model_overrides=dict(self.model_args) or None,
                    **self.scale_args(scale), **self.overrides)

    def train_argv(self, scale, out_dir, precision="fp32"):
        """The ``python -m resnet_keras train`` arguments of this run at `scale`."""
        argv = ["--model", self.model_at(scale), "--recipe", self.recipe, "--seed",
                str(self.seed), "--out", str(out_dir), "--precision", precision,
                "--verbose", "2", "--no-tensorboard"]
        flags = {"epochs": "--epochs", "steps": "--steps", "scale": "--scale",
                 "limit_train": "--limit-train", "limit_val": "--limit-val",
                 "limit_test": "--limit-test"}
        for key, value in self.scale_args(scale).items():
            argv += [flags[key], str(value)]
        for key, value in self.overrides.items():
            argv += ["--set", f"{key}={json.dumps(value)}"]
        for key, value in self.model_args.items():
            argv += ["--model-arg", f"{key}={json.dumps(value)}"]
        return argv


def _runs():
    runs = []
    # Priority 1: He et al. 2015, Table 6 and Fig. 6 (chapter 2; chapter 3 analyses the nets).
    table6 = {"resnet20": "8.75", "resnet32": "7.51", "resnet44": "7.17", "resnet56": "6.97"}
    for depth in (20, 32, 44, 56):
        runs.append(CampaignRun("ch02", f"plain{depth}", f"plain{depth}", "he2015-cifar", 1,
                                what=f"He 2015 Fig. 6 (left): plain-{depth}"))
    for depth in (20, 32, 44, 56):
        runs.append(CampaignRun("ch02", f"resnet{depth}", f"resnet{depth}", "he2015-cifar", 1,
                                keep_model=depth in (20, 56),
                                what=f"He 2015 Table 6: {table6[f'resnet{depth}']}%"))
    runs.append(CampaignRun("ch02", "resnet110", "resnet110", "he2015-cifar-warmup", 1,
                            local_model="resnet56", keep_model=True,
                            what="He 2015 Table 6: 6.43% (best of 5), 6.61 +- 0.16%"))
    # Priority 2: the spread between seeds of chapter 2's comparisons (He et al. report
    # ResNet-110 as best of 5 runs, 6.61 +- 0.16), and shortcut options A/B/C (chapter 4).
    for name in ("plain20", "plain56", "resnet20", "resnet56"):
        for seed in (1, 2):
            runs.append(CampaignRun("ch02", f"{name}_seed{seed}", name, "he2015-cifar", 2,
                                    seed=seed, what=f"{name}, seed {seed}: run-to-run spread"))
    for option in "ABC":
        for seed in (0, 1, 2):
            runs.append(CampaignRun(
                "ch04", f"resnet20_{option}_seed{seed}", "resnet20", "he2015-cifar", 2,
                seed=seed, model_args={} if option == "A" else {"shortcut": option},
                what=f"option {option} on CIFAR-10 (He 2015 compares the options on ImageNet, "
                     "Table 3)"))
    # Priority 3: He et al. 2016, Table 2 (the five orderings, ResNet-110) and Table 3.
    table2 = {"v1": "6.61", "bn_after_add": "8.17", "relu_before_add": "7.84",
              "relu_preact": "6.71", "v2": "6.37"}
    for variant, paper in table2.items():
        runs.append(CampaignRun(
            "ch07", f"resnet110_{variant}", "resnet110", "he2016-preact-cifar", 3,
            model_args={"variant": variant}, local_model="resnet20",
            keep_model=variant in ("v1", "v2"),
            what=f"He 2016 Table 2: {paper}%"))
    runs.append(CampaignRun("ch07", "resnet164_v1", "resnet164", "he2016-preact-cifar", 3,
                            local_model="resnet20", what="He 2016 Table 3: 5.93%"))
    runs.append(CampaignRun("ch07", "resnet164_v2", "preact_resnet164", "he2016-preact-cifar",
                            3, local_model="preact_resnet20", what="He 2016 Table 3: 5.46%"))
    # Priority 4: Huang et al. 2016, ResNet-110 with and without stochastic depth (chapter 8).
    runs.append(CampaignRun("ch08", "resnet110_sd", "resnet110", "huang2016-sd-cifar", 4,
                            local_model="resnet56",
                            what="Huang 2016 Fig. 3 / Table 1: 5.25% (best validation epoch)"))
    runs.append(CampaignRun("ch08", "resnet110_constant", "resnet110", "huang2016-sd-cifar", 4,
                            model_args={"final_survival_probability": 1.0},
                            local_model="resnet56",
                            what="Huang 2016: 6.41% for constant depth"))
    # Priority 5: Srivastava et al. 2015, Fig. 1: highway and plain MLPs on MNIST (chapter 5).
    # The paper chose each net's hyperparameters by a random search it does not list; ours
    # are the learning rates `tools/highway_fig1.py --phase search` chose per network on a
    # 50k/10k validation split after 10 epochs (results/cpu/ch05/fig1/search.json).
    searched_lr = {"highway_mlp": {10: 0.1, 20: 0.1, 50: 0.1, 100: 0.1},
                   "plain_mlp": {10: 0.03, 20: 0.01, 50: 0.003, 100: 0.003}}
    for depth in (10, 20, 50, 100):
        for kind in ("highway_mlp", "plain_mlp"):
            runs.append(CampaignRun(
                "ch05", f"{kind}{depth}", f"{kind}{depth}", "srivastava2015-highway-mnist", 5,
                overrides={"learning_rate": searched_lr[kind][depth]},
                keep_model=kind == "highway_mlp" and depth in (50, 100),
                local_scale={"epochs": 30},
                what=f"Srivastava 2015 Fig. 1: {kind.split('_')[0]} nets of depth {depth}"))
    return tuple(runs)


CAMPAIGN = _runs()


def find_run(chapter, name):
    """The :class:`CampaignRun` ``chapter/name``; ValueError naming the chapter's runs if none."""
    for run in CAMPAIGN:
        if run.chapter == chapter and run.name == name:
            return run
    names = [r.name for r in CAMPAIGN if r.chapter == chapter]
    raise ValueError(f"No campaign run {chapter}/{name}; {chapter} has {names or 'none'}.")


def runs_for(priorities=None, chapters=None, names=None):
    """The campaign's runs in priority order, filtered."""
    selected = [
        r for r in CAMPAIGN
        if (not priorities or r.priority in priorities)
        and (not chapters or r.chapter in chapters)
        and (not names or r.name in names or r.key in names)
    ]
    return sorted(selected, key=lambda r: r.priority)  # stable: listing order within a priority


# ---------------------------------------------------------------------------------------------
# Stored results


def results_path(results_dir, run, suffix=".json"):
    return Path(results_dir) / run.chapter / f"{run.name}{suffix}"


def stored_result(results_dir, run, scale, precision="fp32"):
    """The stored, completed results of `run` at `scale` in `results_dir` whose spec fingerprint
    matches, or None."""
    path = results_path(results_dir, run)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if results.get("status") != "completed":
        return None
    if results.get("spec_fingerprint") != run.fingerprint(scale, precision):
        return None
    return results


def _store(results, run, results_dir, model_file=None):
    """Writes `results` as `run`'s results file (and copies `model_file` beside it when the run
    keeps its model)."""
    from resnet_keras.train.results import write_json_atomic

    path = results_path(results_dir, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, results, indent=1, ensure_ascii=False)
    if run.keep_model and model_file is not None and Path(model_file).is_file():
        target = results_path(results_dir, run, ".keras")
        if Path(model_file).resolve() != target.resolve():
            shutil.copyfile(model_file, target)
    return path


def _share_stored_results(runs, scale, results_dir, precision):
    """Runs with the same spec share one training run: a run without a file gets the stored
    results of a campaign run with its fingerprint (e.g. ch04's option-A ResNet-20, seed 0, is
    ch02's ResNet-20). Returns ``{run key: the key it was shared from}``."""
    stored = {}
    for other in CAMPAIGN:
        results = stored_result(results_dir, other, scale, precision)
        if results is not None:
            stored.setdefault(other.fingerprint(scale, precision), (other, results))
    shared = {}
    for run in runs:
        if stored_result(results_dir, run, scale, precision) is not None:
            continue
        hit = stored.get(run.fingerprint(scale, precision))
        if hit is not None:
            source, results = hit
            _store(results, run, results_dir, results_path(results_dir, source, ".keras"))
            shared[run.key] = source.key
    return shared


# ---------------------------------------------------------------------------------------------
# Running the campaign


def plan(runs, scale, results_dir, precision="fp32"):
    """``(to_run, done)``: the runs without a stored result, one per spec fingerprint (runs
    with the same spec share a training run), and the runs that have one."""
    to_run, done, seen = [], [], {}
    for run in runs:
        if stored_result(results_dir, run, scale, precision) is not None:
            done.append(run)
            continue
        fp = run.fingerprint(scale, precision)
        if fp in seen:
            seen[fp].append(run)
            continue
        seen[fp] = [run]
        to_run.append(seen[fp])
    return to_run, done


def run_campaign(runs, scale="paper", results_dir=None, work_dir="runs/campaign",
                 budget_min=None, parallel=1, data_dir=None, precision="fp32", python=None,
                 echo=True):
    """Trains the `runs` that have no stored result, in priority order, within the budget.

    Each run trains in ``work_dir/<scale>/<chapter>/<name>`` (checkpoints, logs); a completed
    run's results go to ``results_dir/<chapter>/<name>.json``. A run cut by the budget keeps
    its checkpoint there and resumes the next time.

    Returns:
        ``{run key: "completed" | "stopped" | "failed (exit N)" | "skipped: ..."}``.
    """
    from resnet_keras.train.concurrent import process_env

    results_dir = Path(results_dir or Path("results") / RESULTS_DIRS[scale])
    work_dir = Path(work_dir) / scale
    shared = _share_stored_results(runs, scale, results_dir, precision)
    groups, done = plan(runs, scale, results_dir, precision)
    report = {run.key: ("stored" if run.key not in shared else f"stored (the run of "
                        f"{shared[run.key]})") for run in done}
    start = time.monotonic()
    deadline = None if budget_min is None else start + 60 * float(budget_min)
    env = process_env(parallel)
    if data_dir is not None:
        env["RESNET_KERAS_DATA_DIR"] = str(data_dir)
    python = python or sys.executable
    pending = list(groups)
    running = []
    while pending or running:
        while pending and len(running) < parallel:
            left = None if deadline is None else (deadline - time.monotonic()) / 60
            if left is not None and left < 1.0:
                for group in pending:
                    for run in group:
                        report[run.key] = "skipped: out of budget"
                pending = []
                break
            group = pending.pop(0)
            lead = group[0]
            out = work_dir / lead.chapter / lead.name
            moved = _set_aside_an_earlier_configuration(out, lead.fingerprint(scale, precision))
            if moved is not None and echo:
                print(f"[campaign] {lead.key}: {out} held a run of an earlier configuration "
                      f"(a recipe or the campaign changed); kept as {moved.name}", flush=True)
            out.mkdir(parents=True, exist_ok=True)
            argv = lead.train_argv(scale, out, precision)
            if left is not None:
                argv += ["--time-budget-min", f"{max(left - 0.5, 0.5):.2f}"]
            log = open(out / "train.log", "a", encoding="utf-8")
            if echo:
                print(f"[campaign] start {lead.key} ({lead.model_at(scale)}, {lead.recipe}, "
                      f"seed {lead.seed})", flush=True)
            proc = subprocess.Popen([python, "-m", "resnet_keras", "train", *argv],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
            running.append((proc, group, out, log))
        for item in list(running):
            proc, group, out, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            status = _collect(proc.returncode, group, out, scale, results_dir, precision)
            for run in group:
                report[run.key] = status
            if echo:
                print(f"[campaign] {group[0].key}: {status}", flush=True)
        time.sleep(0.5)
    return report


def _set_aside_an_earlier_configuration(out, fingerprint):
    """Renames the work folder `out` when it holds a run of another configuration.

    The campaign trains each run in a fixed folder; after a recipe or a campaign entry changes,
    the folder's checkpoint belongs to a different run and `train` would refuse to resume it.
    Nothing is deleted: the folder becomes ``<name>.superseded-<its fingerprint>``.

    Returns:
        The new path, or `None` when there was nothing to set aside.
    """
    config_file = Path(out) / "config.json"
    if not config_file.is_file():
        return None
    old = json.loads(config_file.read_text(encoding="utf-8")).get("spec_fingerprint")
    if old == fingerprint:
        return None
    target = Path(out).with_name(f"{Path(out).name}.superseded-{old}")
    suffix = 1
    while target.exists():
        suffix += 1
        target = Path(out).with_name(f"{Path(out).name}.superseded-{old}-{suffix}")
    Path(out).rename(target)
    return target


def _collect(returncode, group, out, scale, results_dir, precision):
    results_file = Path(out) / "results.json"
    if not results_file.is_file():
        return f"failed (exit {returncode}, no results; see {Path(out) / 'train.log'})"
    results = json.loads(results_file.read_text(encoding="utf-8"))
    if results["status"] != "completed":
        return (f"{results['status']} after epoch "
                f"{results['history'][-1]['epoch'] if results['history'] else 0}")
    lead = group[0]
    if results["spec_fingerprint"] != lead.fingerprint(scale, precision):
        return "failed: the run's spec fingerprint differs from the campaign's"
    for run in group:
        _store(results, run, results_dir, Path(out) / "model.keras")
    return "completed"


# ---------------------------------------------------------------------------------------------
# Taking in results made elsewhere


def ingest(paths, results_dir="results/gpu", repo=None, echo=True):
    """Checks results files made by this campaign on another machine and takes them in.

    A file is taken when it passes the results schema, completed, names an accelerator in its
    environment, was made from a commit of this repository, and its spec fingerprint is that
    of a campaign run at the paper scale (fp32 or the run's precision). It is copied to
    ``results_dir/<chapter>/<run>.json`` (with a ``.keras`` beside it when one came along).

    Returns:
        ``{file: "taken as <chapter>/<run>" | "refused: <why>"}``.
    """
    from resnet_keras.train.results import validate_results

    files = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    by_fp = {}
    for run in CAMPAIGN:
        for precision in ("fp32", "bf16"):
            by_fp.setdefault(run.fingerprint("paper", precision), []).append(run)
    verdicts = {}
    for f in files:
        try:
            results = json.loads(f.read_text(encoding="utf-8"))
            validate_results(results)
        except (OSError, ValueError) as e:
            verdicts[str(f)] = f"refused: not a valid results file ({e})"
            continue
        env = results["environment"]
        why = None
        if results["status"] != "completed":
            why = f"status {results['status']}"
        elif env.get("device_platform") in (None, "cpu"):
            why = f"made on {env.get('device')}, not an accelerator"
        elif not _known_commit(env.get("git_commit"), repo):
            why = f"commit {env.get('git_commit')} is not in this repository"
        elif results["spec_fingerprint"] not in by_fp:
            why = "its spec matches no campaign run at the paper scale"
        if why:
            verdicts[str(f)] = f"refused: {why}"
            continue
        runs = by_fp[results["spec_fingerprint"]]
        for run in runs:
            _store(results, run, results_dir, f.with_suffix(".keras"))
        verdicts[str(f)] = "taken as " + ", ".join(run.key for run in runs)
    if echo:
        for f, verdict in verdicts.items():
            print(f"{f}: {verdict}")
    return verdicts


def _known_commit(commit, repo=None):
    if not commit:
        return False
    proc = subprocess.run(["git", "-C", str(repo or Path.cwd()), "cat-file", "-e",
                           f"{commit}^{{commit}}"], capture_output=True)
    return proc.returncode == 0


# ---------------------------------------------------------------------------------------------
# Command line (python -m resnet_keras campaign ...)


def add_campaign_parser(sub):
    c = sub.add_parser(
        "campaign", help="the book's training runs: list, run the missing ones, take in results",
        description="Every training run the book presents. Without --list or --ingest, trains "
        "the selected runs that have no stored result, lowest priority number first, and "
        "writes each completed one to RESULTS/<chapter>/<run>.json.",
    )
    c.add_argument("--list", action="store_true", help="print the runs and whether each has a "
                   "result, then stop")
    c.add_argument("--ingest", nargs="+", metavar="PATH",
                   help="check results files (or folders of them) made on another machine and "
                   "take them into results/gpu")
    c.add_argument("--scale", choices=sorted(SCALES), default="paper",
                   help="paper (full runs, for a GPU), local (minutes each on a CPU), smoke "
                   "(seconds)")
    c.add_argument("--priority", type=int, nargs="+", choices=[1, 2, 3, 4, 5],
                   help="only these priorities")
    c.add_argument("--chapter", nargs="+", help="only these chapters (ch02 ...)")
    c.add_argument("--run", nargs="+", dest="names", help="only these runs (name or chapter/name)")
    c.add_argument("--results-dir", default=None,
                   help="where results go (default: results/gpu for paper, results/local, "
                   "results/smoke)")
    c.add_argument("--work-dir", default="runs/campaign",
                   help="checkpoints and logs (keep it between budgets to resume)")
    c.add_argument("--budget-min", type=float, default=None,
                   help="stop cleanly after this many minutes (unfinished runs keep their "
                   "checkpoints)")
    c.add_argument("--parallel", type=int, default=1, help="runs trained at once (default 1)")
    c.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    c.add_argument("--data-dir", default=None, help="local data folder for the runs")
    c.add_argument("--allow-cpu", action="store_true",
                   help="run the paper scale without an accelerator (days of CPU time)")


def _list(runs, scale, results_dir, precision):
    print(f"{'pri':<3}  {'run':<32} {'model':<17} {'recipe':<28} {'seed':>4}  result "
          f"({scale} scale, {results_dir})")
    for run in runs:
        stored = stored_result(results_dir, run, scale, precision)
        state = "missing"
        if stored is not None:
            err = stored.get("reported_test_error")
            state = "stored" + ("" if err is None else f" ({100 * err:.2f}%)")
        print(f"{run.priority:<3}  {run.key:<32} {run.model_at(scale):<17} {run.recipe:<28} "
              f"{run.seed:>4}  {state}")


def main(args):
    if args.parallel < 1:
        raise ValueError(f"--parallel must be at least 1; got {args.parallel}")
    if args.budget_min is not None and not args.budget_min > 0:
        raise ValueError(f"--budget-min must be positive; got {args.budget_min}")
    if args.ingest:
        verdicts = ingest(args.ingest, args.results_dir or "results/gpu")
        return 0 if all(v.startswith("taken") for v in verdicts.values()) else 1
    runs = runs_for(args.priority, args.chapter, args.names)
    if not runs:
        raise ValueError("No campaign run matches the selection (see --list).")
    results_dir = Path(args.results_dir or Path("results") / RESULTS_DIRS[args.scale])
    if args.list:
        _list(runs, args.scale, results_dir, args.precision)
        return 0
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"Data directory not found: {args.data_dir}")
    if args.scale == "paper" and not args.allow_cpu:
        from resnet_keras.train.environment import device_info

        _, _, platform = device_info()
        if platform == "cpu":
            raise ValueError("The paper scale needs an accelerator (ResNet-110 alone is days on "
                             "a CPU); use --scale local, or --allow-cpu to insist.")
    report = run_campaign(runs, args.scale, results_dir, args.work_dir, args.budget_min,
                          args.parallel, args.data_dir, args.precision)
    width = max(len(k) for k in report)
    for key, status in report.items():
        print(f"{key:<{width}}  {status}")
    bad = [s for s in report.values() if s.startswith("failed")]
    return 1 if bad else 0
