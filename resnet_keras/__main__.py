"""Command line: ``python -m resnet_keras train|evaluate|recipes|campaign ...``.

Examples::

    python -m resnet_keras recipes
    python -m resnet_keras recipes he2015-cifar
    python -m resnet_keras train --model resnet56 --recipe he2015-cifar --out runs/r56
    python -m resnet_keras train --model resnet20 --model resnet56 --epochs 3 --data-dir ~/data
    python -m resnet_keras evaluate runs/r56
    python -m resnet_keras campaign --list

Rerunning an interrupted ``train`` command resumes it from its last completed epoch. Several
``--model`` train side by side, each in its own process and folder (``--parallel`` caps how many
at once).

Every argument is checked before anything is loaded: ``--help``, ``recipes``, ``campaign
--list`` and a mistyped model or number answer at once, without Keras or any data.

Exit status: 0 success, 2 bad arguments or data, 3 the loss became NaN, 130 interrupted
(several runs: the first non-zero status).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _key_values(items, flag):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} expects KEY=VALUE; got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative number; got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a non-negative number; got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m resnet_keras",
        description="Train and evaluate the residual, highway and stochastic-depth networks "
        "of resnet_keras with the papers' recipes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train", help="train a model with a recipe (resumes an interrupted run)",
        description="Train a model with a paper's recipe. Writes OUT/results.json, "
        "OUT/checkpoint/ (every epoch), OUT/tensorboard/ and OUT/model.keras. Rerun the "
        "same command after an interruption to resume.",
    )
    t.add_argument("--model", action="append", default=None,
                   help="model name (resnet20, resnet56, plain56, preact_resnet164, "
                   "resnet110_sd, highway_mlp50, ...); default: the recipe's. Repeat to train "
                   "several models side by side, each in its own process")
    t.add_argument("--recipe", default="he2015-cifar",
                   help="recipe name (see `python -m resnet_keras recipes`)")
    t.add_argument("--out", default=None,
                   help="output folder (default: runs/RECIPE/MODEL-seedSEED); with several "
                   "--model, the parent folder of one folder per model")
    t.add_argument("--parallel", type=_positive_int, default=None,
                   help="with several --model: how many train at once (default: all)")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int,
                        help="run N epochs; the lr schedule is scaled to fit")
    length.add_argument("--steps", type=_positive_int,
                        help="run N optimizer steps; the lr schedule is scaled to fit")
    length.add_argument("--scale", type=_positive_float,
                        help="scale the recipe's length and schedule by this factor")
    d = t.add_argument_group("data")
    d.add_argument("--data-dir", default=None,
                   help="local data folder (default: $RESNET_KERAS_DATA_DIR)")
    d.add_argument("--data-source", choices=["auto", "tfds", "local"], default=None,
                   help="where the data come from (default: $RESNET_KERAS_DATA_SOURCE or auto)")
    d.add_argument("--validation-size", type=_non_negative_int, default=None,
                   help="training images held out for validation (recipe default; 0: none)")
    d.add_argument("--limit-train", type=_positive_int, default=None,
                   help="use only the first N training images")
    d.add_argument("--limit-val", type=_positive_int, default=None,
                   help="use only the first N validation images")
    d.add_argument("--limit-test", type=_positive_int, default=None,
                   help="use only the first N test images")
    h = t.add_argument_group("hyper-parameters (override the recipe)")
    h.add_argument("--batch-size", type=_positive_int)
    h.add_argument("--lr", "--learning-rate", dest="learning_rate", type=_positive_float)
    h.add_argument("--momentum", type=_non_negative_float)
    h.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    h.add_argument("--weight-decay", type=_non_negative_float)
    h.add_argument("--warmup-steps", type=_non_negative_int)
    h.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    h.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="any other recipe field, VALUE in JSON (e.g. --set "
                   "lr_milestones=[100,150] --set milestone_unit=epochs); repeatable")
    h.add_argument("--model-arg", action="append", metavar="ARG=VALUE",
                   help="model builder argument, VALUE in JSON (e.g. --model-arg "
                   "final_survival_probability=1.0); repeatable")
    r = t.add_argument_group("run")
    r.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    r.add_argument("--loop", choices=["auto", "compiled", "fit"], default="auto",
                   help="training loop: compiled (JAX: one compiled call per epoch), fit "
                   "(model.fit), auto (compiled where it can run)")
    r.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA compilation of the fit loop (default: keras' 'auto')")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--time-budget-min", type=_positive_float, default=None,
                   help="stop cleanly before an epoch that would end after this many minutes "
                   "(checkpoint kept; rerun to continue)")
    r.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over even if OUT holds a checkpoint")
    r.add_argument("--test-every", type=_non_negative_int, default=1,
                   help="evaluate on the test set every N epochs and after the last (0: after "
                   "the last only)")
    r.add_argument("--no-tensorboard", dest="tensorboard", action="store_false")
    r.add_argument("--verbose", type=int, choices=[0, 1, 2], default=None,
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a "
                   "terminal, else 2)")

    e = sub.add_parser("evaluate", help="test error of a trained run (OUT/model.keras)")
    e.add_argument("run_dir", help="the --out folder of a finished run")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--data-source", choices=["auto", "tfds", "local"], default=None)
    e.add_argument("--batch-size", type=_positive_int, default=1000)

    rc = sub.add_parser("recipes", help="list the recipes, or show one as JSON")
    rc.add_argument("name", nargs="?", default=None)

    from resnet_keras.campaign import add_campaign_parser

    add_campaign_parser(sub)
    return parser


def _recipe_overrides(args):
    overrides = _key_values(args.set, "--set")
    for field in ("batch_size", "learning_rate", "momentum", "nesterov", "weight_decay",
                  "warmup_steps", "validation_size", "augment"):
        value = getattr(args, field)
        if value is not None:
            overrides[field] = value
    if overrides.get("augment") is False:
        overrides.setdefault("crop_padding", 0)
        overrides.setdefault("random_flip", False)
    return overrides


def _check_data_dir(data_dir, dataset=None):
    if data_dir is not None and not os.path.isdir(os.path.expanduser(data_dir)):
        from resnet_keras.data_sources import HOW_TO_GET

        hint = HOW_TO_GET.get(dataset, "Leave --data-dir out to download with "
                                       "tensorflow-datasets.")
        raise FileNotFoundError(f"Data directory not found: {data_dir}. {hint}")


def _cmd_recipes(args):
    from resnet_keras.train.recipes import RECIPES, get_recipe

    if args.name:
        print(json.dumps(get_recipe(args.name).to_dict(), indent=2))
        return 0
    width = max(len(n) for n in RECIPES)
    for name, recipe in RECIPES.items():
        length = f"{recipe.duration} {recipe.duration_unit}"
        print(f"{name:<{width}}  {recipe.dataset:<8} {recipe.default_model:<17} {length:<13} "
              f"{recipe.paper.split('.')[0]}")
    return 0


def _train_args_without(argv, flags_with_value):
    """`argv` (the words after `train`) without the given flags and their values."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in flags_with_value:
            skip = "=" not in word
            continue
        out.append(word)
    return out


def _cmd_train(args, argv):
    from resnet_keras.model_names import parse_model_name
    from resnet_keras.train.recipes import get_recipe

    recipe = get_recipe(args.recipe)
    overrides = _recipe_overrides(args)
    recipe = recipe.replace(**overrides) if overrides else recipe
    models = args.model or [recipe.default_model]
    for name in models:
        parse_model_name(name)
    if len(set(models)) != len(models):
        raise ValueError(f"--model names a model twice: {models}")
    model_overrides = _key_values(args.model_arg, "--model-arg")
    _check_data_dir(args.data_dir, recipe.dataset)
    if len(models) > 1:
        return _train_several(args, argv, models, recipe)
    model = models[0]
    out = args.out or os.path.join("runs", recipe.name, f"{model}-seed{args.seed}")

    from resnet_keras.train.run import check_train_arguments, train

    kwargs = dict(
        epochs=args.epochs, steps=args.steps, scale=args.scale, limit_train=args.limit_train,
        limit_val=args.limit_val, limit_test=args.limit_test, precision=args.precision,
        jit_compile="auto" if args.jit_compile is None else args.jit_compile, seed=args.seed,
        test_every=args.test_every, loop=args.loop,
        time_budget_s=None if args.time_budget_min is None else 60 * args.time_budget_min,
    )
    check_train_arguments(model, args.recipe, overrides=overrides, **kwargs)
    results = train(
        model, args.recipe, out, data_dir=args.data_dir, data_source=args.data_source,
        resume=args.resume, tensorboard=args.tensorboard,
        verbose="auto" if args.verbose is None else args.verbose,
        model_overrides=model_overrides, **kwargs, **overrides,
    )
    err = results["reported_test_error"]
    ips = results["images_per_second"]
    what = "stopped (time budget) after" if results["status"] == "stopped" else "done:"
    print(
        f"{what} {results['model']['name']} / {results['recipe']['name']}, epoch "
        f"{results['history'][-1]['epoch'] if results['history'] else 0}: test error "
        f"{'n/a' if err is None else f'{100 * err:.2f}%'}, "
        f"{'n/a' if ips is None else f'{ips:.0f}'} training images/s on "
        f"{results['environment']['device']} ({results['loop']} loop); results in "
        f"{os.path.join(out, 'results.json')}",
        flush=True,
    )
    return 0


def _train_several(args, argv, models, recipe):
    from resnet_keras.train.concurrent import train_concurrently

    base = _train_args_without(argv, {"--model", "--out", "--parallel"})
    parent = args.out or os.path.join("runs", recipe.name)
    jobs = []
    for model in models:
        out = os.path.join(parent, f"{model}-seed{args.seed}")
        jobs.append((model, out, [*base, "--model", model, "--out", out]))
    print(f"Training {len(jobs)} models side by side"
          f"{'' if args.parallel is None else f' ({args.parallel} at a time)'}: "
          f"{', '.join(models)}", flush=True)
    status = train_concurrently(jobs, max_parallel=args.parallel)
    for model, code in status.items():
        print(f"{model}: exit status {code}", flush=True)
    return next((code for code in status.values() if code), 0)


def _cmd_evaluate(args):
    results_path = os.path.join(args.run_dir, "results.json")
    model_path = os.path.join(args.run_dir, "model.keras")
    for path in (results_path, model_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} not found: is {args.run_dir} the --out folder of a finished run?"
            )
    _check_data_dir(args.data_dir)
    import keras
    import numpy as np

    import resnet_keras.models  # noqa: F401  (registers the layers)
    from resnet_keras import data as data_lib

    with open(results_path) as f:
        results = json.load(f)
    ds = data_lib.load_dataset(results["dataset"]["name"], source=args.data_source,
                               data_dir=args.data_dir)
    model = keras.saving.load_model(model_path, compile=False)
    logits = model.predict(ds.x_test, batch_size=args.batch_size, verbose=0)
    error = float(np.mean(np.argmax(logits, axis=-1) != ds.y_test))
    print(f"{results['model']['name']}: test error {100 * error:.2f}% on {len(ds.y_test)} "
          f"images ({ds.source}); the run recorded {results['final_test_error']}")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "recipes":
            return _cmd_recipes(args)
        if args.command == "evaluate":
            return _cmd_evaluate(args)
        if args.command == "campaign":
            from resnet_keras.campaign import main as campaign_main

            return campaign_main(args)
        return _cmd_train(args, argv[1:])
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume from the last completed epoch.",
              file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except Exception as e:
        from resnet_keras.train.run import TrainingDiverged

        if isinstance(e, TrainingDiverged):
            print(f"error: {e}", file=sys.stderr, flush=True)
            return EXIT_DIVERGED
        raise


if __name__ == "__main__":
    sys.exit(main())
