"""What every chapter notebook of the book needs before its first experiment.

`setup()` decides how big the experiments are (quick mode for CI, a
scaled-down run on a CPU, the papers' full runs on an accelerator), makes
matplotlib draw Hangul, quiets the log lines that are noise in a notebook,
and prints where the notebook runs, so that stored outputs always carry
their provenance. A chapter's first code cell is the Colab install line and
`env = notebook.setup("chNN")`; nothing else.

Scales (keyword arguments of `resnet_keras.train.train`):

- quick (`RESNET_KERAS_SMOKE=1`): 1 epoch on a few hundred images; proves the
  code runs, the numbers mean nothing.
- CPU: the papers' schedules shrunk to `CPU_SCALE` (a few thousand training
  images, a few epochs), so that a chapter runs in minutes on a laptop.
- accelerator (GPU/TPU): the papers' full schedules (`{}`).
"""

import dataclasses
import json
import logging
import os
import pathlib
import time

import keras

SMOKE_SCALE = {"epochs": 1, "limit_train": 256, "limit_val": 128, "limit_test": 256}
CPU_SCALE = {"epochs": 8, "limit_train": 4000, "limit_val": 1000, "limit_test": 2000}


@dataclasses.dataclass
class NotebookEnv:
    """Where and at which scale a chapter runs (returned by `setup`).

    Attributes:
        chapter: short chapter id, e.g. `"ch02"`.
        smoke: bool, quick mode (`RESNET_KERAS_SMOKE=1`).
        accelerated: bool, a GPU/TPU is visible to the backend.
        device: str, human-readable device name.
        scale: dict of `train()` keyword arguments for this scale.
        runs_dir: where checkpoints and logs go.
        results_dir: where `save_results` writes the results JSON files
            (`None`: not kept, as in quick mode).
        data_dir: local data directory (`RESNET_KERAS_DATA_DIR`) or `None`,
            in which case tensorflow-datasets downloads the data.
    """

    chapter: str
    smoke: bool
    accelerated: bool
    device: str
    scale: dict
    runs_dir: pathlib.Path
    results_dir: pathlib.Path | None
    data_dir: str | None
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def label(self):
        """`"quick"`, `"cpu"` or `"gpu"`: the scale of the stored numbers."""
        return "quick" if self.smoke else ("gpu" if self.accelerated else "cpu")

    def train_kwargs(self, **overrides):
        """Keyword arguments for `train()` at this scale, plus `overrides`."""
        kwargs = dict(self.scale, data_dir=self.data_dir, verbose=0, tensorboard=False)
        kwargs.update(overrides)
        return kwargs

    def out_dir(self, name):
        """Checkpoint directory of run `name` (a rerun resumes or returns it)."""
        return self.runs_dir / self.chapter / self.label / name

    def save_results(self, results, name):
        """Keeps a run's results JSON under `results/<scale>/<chapter>/`."""
        if self.results_dir is None:
            return None
        path = self.results_dir / self.label / self.chapter / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))
        return path

    def elapsed(self):
        """Minutes since `setup()`."""
        return (time.perf_counter() - self.started) / 60

    def summary(self):
        """One line for the notebook: where, which backend, which scale."""
        scale = {
            "quick": "빠른 점검 모드(숫자는 의미 없음)",
            "cpu": f"CPU 축소 실행 {self.scale}",
            "gpu": "논문 전체 설정",
        }[self.label]
        return (
            f"장치: {self.device} · 백엔드: {keras.backend.backend()} "
            f"(Keras {keras.version()}) · 규모: {scale}"
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


def setup(chapter, cpu_scale=None, smoke_scale=None, fonts=True, show=True):
    """Prepares a chapter notebook and returns its `NotebookEnv`.

    Args:
        chapter: short chapter id, e.g. `"ch02"`.
        cpu_scale: dict overriding `CPU_SCALE` for this chapter.
        smoke_scale: dict overriding `SMOKE_SCALE` for this chapter.
        fonts: bool, register the bundled Hangul font with matplotlib.
        show: bool, print `env.summary()` (device, backend, scale).

    Returns:
        A `NotebookEnv`.
    """
    from resnet_keras.train.environment import device_info  # what the results JSON records

    smoke = os.environ.get("RESNET_KERAS_SMOKE") == "1"
    device, count, kind = device_info()
    accelerated = kind != "cpu"
    if not accelerated:
        device = f"{device}, {os.cpu_count()} cores"
    elif count > 1:
        device = f"{count} x {device}"
    if smoke:
        scale = dict(SMOKE_SCALE, **(smoke_scale or {}))
    elif accelerated:
        scale = {}
    else:
        scale = dict(CPU_SCALE, **(cpu_scale or {}))
    root = _repo_root(pathlib.Path.cwd().resolve())
    base = root if root is not None else pathlib.Path.cwd()
    runs_dir = pathlib.Path(os.environ.get("RESNET_KERAS_RUNS_DIR", base / "runs"))
    if smoke:
        import tempfile

        runs_dir = pathlib.Path(tempfile.mkdtemp(prefix="resnet_keras_smoke_"))
    results_dir = None if (smoke or root is None) else root / "results"
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
        results_dir=results_dir,
        data_dir=os.environ.get("RESNET_KERAS_DATA_DIR") or None,
    )
    if show:
        print(env.summary())
    return env
