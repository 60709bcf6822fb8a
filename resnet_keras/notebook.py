"""What every chapter notebook of the book needs: its scale, its results, its fonts.

`setup()` decides at which scale the chapter trains what it has to train,
makes matplotlib draw Hangul, quiets the log lines that are noise in a
notebook, and prints where the notebook runs, so that stored outputs always
carry their provenance. A chapter's first code cell is the Colab install line
and `env = notebook.setup("chNN")`; nothing else.

Results first: every training run of the book is a run of the campaign
(`resnet_keras.campaign`). `env.experiment("resnet56")` returns

1. the stored paper-scale result of that run (`results/gpu/<chapter>/<run>.json`
   in a checkout of the repository; in Colab, the published file of the
   repository, downloaded), when one exists for exactly that configuration
   (its spec fingerprint);
2. else the stored result of the run at this notebook's scale
   (`results/local/...`);
3. else it trains the run at this notebook's scale now and keeps the result.

Every figure and table then says which it shows (`env.source(result)`).

Scales (`resnet_keras.campaign.SCALES`):

- smoke (`RESNET_KERAS_SMOKE=1`): 1 epoch on a few hundred images and the
  smallest model of each kind; proves the code runs, the numbers mean nothing.
- local (default): the papers' schedules shrunk to a few thousand images and a
  few epochs (a smaller network stands in for the 110-layer ones), minutes per
  run on a laptop CPU, seconds on a GPU.
- paper (`RESNET_KERAS_SCALE=paper`): the papers' full runs; hours, for a GPU.
"""

import dataclasses
import json
import logging
import os
import pathlib
import tempfile
import time
import urllib.error
import urllib.request

import keras

from resnet_keras.campaign import RESULTS_DIRS, SCALES, find_run

# The repository the book is published from (also `repository.url` in _config.yml).
REPOSITORY_URL = "https://github.com/resnet-keras/resnet-keras"
# Where Colab finds the stored results of the campaign (raw files of the main branch).
PUBLISHED_RESULTS_URL = "https://raw.githubusercontent.com/resnet-keras/resnet-keras/main/results"

SCALE_ENV = "RESNET_KERAS_SCALE"
RESULTS_DIR_ENV = "RESNET_KERAS_RESULTS_DIR"
SCALE_NAMES = {"paper": "논문 규모", "local": "축소 규모", "smoke": "빠른 점검(숫자는 의미 없음)"}


@dataclasses.dataclass
class NotebookEnv:
    """Where and at which scale a chapter runs (returned by `setup`).

    Attributes:
        chapter: short chapter id, e.g. `"ch02"`.
        smoke: bool, quick mode (`RESNET_KERAS_SMOKE=1`).
        accelerated: bool, a GPU/TPU is visible to the backend.
        device: str, human-readable device name.
        scale: `"smoke"`, `"local"` or `"paper"`: what this notebook trains
            when it has to (see the module docstring).
        runs_dir: where checkpoints and logs of runs trained here go.
        results_root: the `results/` folder results are read from and kept in
            (the repository's, or `RESNET_KERAS_RESULTS_DIR`); `None` outside a
            checkout (Colab): nothing is kept.
        data_dir: local data directory (`RESNET_KERAS_DATA_DIR`) or `None`,
            in which case tensorflow-datasets downloads the data.
        published_url: where stored results are downloaded from outside a
            checkout (`None`: never).
    """

    chapter: str
    smoke: bool
    accelerated: bool
    device: str
    scale: str
    runs_dir: pathlib.Path
    results_root: pathlib.Path | None
    data_dir: str | None
    published_url: str | None = None
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def scale_args(self):
        """`train()` keyword arguments of this notebook's scale (epochs, limits)."""
        return dict(SCALES[self.scale])

    def train_kwargs(self, **overrides):
        """Keyword arguments for an ad-hoc `train()` call at this scale, plus `overrides`."""
        kwargs = dict(self.scale_args, data_dir=self.data_dir, verbose=0, tensorboard=False)
        kwargs.update(overrides)
        return kwargs

    def out_dir(self, name):
        """Checkpoint directory of run `name` (a rerun resumes or returns it)."""
        return self.runs_dir / self.chapter / self.scale / name

    # ---- results first ------------------------------------------------------------------

    def _stored(self, run, scale):
        """`(results, where)` of `run` stored at `scale`, or `None`."""
        from resnet_keras.campaign import results_path, stored_result

        if self.results_root is not None:
            folder = self.results_root / RESULTS_DIRS[scale]
            results = stored_result(folder, run, scale)
            if results is not None:
                return results, results_path(folder, run)
        elif self.published_url and scale == "paper":
            url = f"{self.published_url}/{RESULTS_DIRS[scale]}/{run.chapter}/{run.name}.json"
            try:
                with urllib.request.urlopen(url, timeout=20) as response:
                    results = json.loads(response.read().decode("utf-8"))
            except (urllib.error.URLError, OSError, ValueError):
                return None
            if (results.get("status") == "completed"
                    and results.get("spec_fingerprint") == run.fingerprint(scale)):
                return results, url
        return None

    def experiment(self, name, chapter=None):
        """The results of the campaign run `chapter/name` (default: this chapter's).

        The stored paper-scale result when there is one, else the stored result at this
        notebook's scale, else a run trained now at this notebook's scale (and kept). The
        returned dict is the results file's, plus `"presented"`: which scale, which file.
        """
        run = find_run(chapter or self.chapter, name)
        tried = [] if self.smoke else ["paper"]
        if self.scale not in tried:
            tried.append(self.scale)
        for scale in tried:
            hit = self._stored(run, scale)
            if hit is not None:
                results, where = hit
                results["presented"] = {"scale": scale, "file": str(where), "trained_now": False}
                return results
        return self._train_now(run)

    def _train_now(self, run):
        from resnet_keras.campaign import _store
        from resnet_keras.train import train

        out = self.runs_dir / run.chapter / self.scale / run.name
        results = train(out_dir=out, data_dir=self.data_dir, verbose=0, tensorboard=False,
                        **run.train_kwargs(self.scale))
        where = out / "results.json"
        if self.results_root is not None and not self.smoke:
            folder = self.results_root / RESULTS_DIRS[self.scale]
            where = _store(results, run, folder, out / "model.keras")
        results["presented"] = {"scale": self.scale, "file": str(where), "trained_now": True,
                                "run_dir": str(out)}
        return results

    def trained_model(self, results):
        """The trained network of an experiment (`keras.Model`, raw uint8 images in, logits
        out), from the `.keras` file kept beside its results, or `None` when none was kept."""
        import resnet_keras.data  # noqa: F401  (registers Preprocess for loading)
        import resnet_keras.models  # noqa: F401  (registers the layers for loading)

        presented = results.get("presented", {})
        candidates = []
        if presented.get("run_dir"):
            candidates.append(pathlib.Path(presented["run_dir"]) / "model.keras")
        where = presented.get("file", "")
        if where.endswith(".json"):
            if where.startswith("http"):
                candidates.append(where[: -len(".json")] + ".keras")
            else:
                candidates.append(pathlib.Path(where).with_suffix(".keras"))
        for candidate in candidates:
            if isinstance(candidate, str):  # published: download once into ~/.keras
                try:
                    candidate = pathlib.Path(keras.utils.get_file(
                        "_".join(candidate.split("/")[-2:]), candidate,
                        cache_subdir="resnet_keras"))
                except Exception:
                    continue
            if candidate.is_file():
                return keras.saving.load_model(candidate, compile=False)
        return None

    def source(self, results):
        """One line that says what a result is: scale, device, backend, date, file."""
        presented = results.get("presented", {})
        scale = presented.get("scale", "?")
        env = results.get("environment", {})
        limits = results.get("spec", {}).get("limits", {})
        what = SCALE_NAMES.get(scale, scale)
        if scale != "paper" and limits.get("train"):
            what += f"(학습 {limits['train']:,}장 × {results['hyperparameters']['epochs']}에폭)"
        file = presented.get("file", "")
        if self.results_root is not None and file and not file.startswith("http"):
            try:
                file = str(pathlib.Path(file).resolve().relative_to(
                    self.results_root.resolve().parent))
            except ValueError:
                pass
        return (f"{what} · {env.get('device', '?')} · {env.get('backend', '?')} · "
                f"{(results.get('finished_at') or '')[:10]} · "
                f"{'방금 학습' if presented.get('trained_now') else '저장된 결과'}: {file}")

    def elapsed(self):
        """Minutes since `setup()`."""
        return (time.perf_counter() - self.started) / 60

    def summary(self):
        """One line for the notebook: where, which backend, which scale."""
        scale = SCALE_NAMES[self.scale]
        if self.scale == "local":
            scale += f" {self.scale_args}"
        return (
            f"장치: {self.device} · 백엔드: {keras.backend.backend()} "
            f"(Keras {keras.version()}) · 학습할 때의 규모: {scale} · 결과: "
            + ("저장된 논문 규모 결과가 있으면 그것을 씁니다" if not self.smoke
               else "빠른 점검 결과")
        )


class _DropRetracingNotice(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" notice.

    A chapter builds and trains several models in one process; each new model traces its own
    functions, which TensorFlow reports as possible retracing on stderr. Here that is expected,
    not a performance problem, and the line would end up in the stored outputs.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING_FILTER = _DropRetracingNotice()


def quiet_logs():
    """Installs the notebook log filters (idempotent). `setup()` calls it."""
    logger = logging.getLogger("tensorflow")
    if _RETRACING_FILTER not in logger.filters:
        logger.addFilter(_RETRACING_FILTER)


def show_table(header, rows):
    """Displays rows as an HTML table (a table in the book too), or prints it outside IPython.

    Args:
        header: column titles.
        rows: lists of cells (converted with `str`).
    """
    try:
        from IPython.display import HTML, display
    except ImportError:  # plain Python: a text table
        for row in [header, *rows]:
            print(" | ".join(str(c) for c in row))
        return
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))


def _repo_root(start):
    for path in [start, *start.parents]:
        if (path / "_toc.yml").exists() and (path / "resnet_keras").is_dir():
            return path
    return None


def setup(chapter, fonts=True, show=True):
    """Prepares a chapter notebook and returns its `NotebookEnv`.

    Args:
        chapter: short chapter id, e.g. `"ch02"`.
        fonts: bool, register the bundled Hangul font with matplotlib.
        show: bool, print `env.summary()` (device, backend, scale).

    Returns:
        A `NotebookEnv`.
    """
    from resnet_keras.train.environment import device_info  # what the results JSON records

    smoke = os.environ.get("RESNET_KERAS_SMOKE") == "1"
    scale = "smoke" if smoke else (os.environ.get(SCALE_ENV) or "local")
    if scale not in SCALES:
        raise ValueError(
            f"{SCALE_ENV} must be one of {sorted(s for s in SCALES if s != 'smoke')}; "
            f"got {scale!r}"
        )
    device, count, kind = device_info()
    accelerated = kind != "cpu"
    if not accelerated:
        device = f"{device}, {os.cpu_count()} cores"
    elif count > 1:
        device = f"{count} x {device}"
    root = _repo_root(pathlib.Path.cwd().resolve())
    base = root if root is not None else pathlib.Path.cwd()
    runs_dir = pathlib.Path(os.environ.get("RESNET_KERAS_RUNS_DIR", base / "runs"))
    if smoke:
        runs_dir = pathlib.Path(tempfile.mkdtemp(prefix="resnet_keras_smoke_"))
    results_root = os.environ.get(RESULTS_DIR_ENV)
    results_root = pathlib.Path(results_root) if results_root else (
        root / "results" if root is not None else None)
    quiet_logs()
    if fonts:
        from resnet_keras.plotting import use_korean_font

        use_korean_font()
    env = NotebookEnv(
        chapter=chapter,
        smoke=smoke,
        accelerated=accelerated,
        device=device,
        scale=scale,
        runs_dir=runs_dir,
        results_root=results_root,
        data_dir=os.environ.get("RESNET_KERAS_DATA_DIR") or None,
        published_url=None if (root is not None or smoke) else PUBLISHED_RESULTS_URL,
    )
    if show:
        print(env.summary())
    return env
