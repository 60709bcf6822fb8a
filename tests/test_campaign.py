"""The campaign (resnet_keras.campaign): its list, its specs, a smoke-scale run, the intake of
results made elsewhere, and a notebook that presents what the campaign stored."""

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest

from resnet_keras import campaign, notebook
from resnet_keras.model_names import parse_model_name
from resnet_keras.train import RECIPES, fingerprint, validate_results
from test_data import write_cifar10

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_campaign_covers_the_five_priorities():
    keys = [run.key for run in campaign.CAMPAIGN]
    assert len(keys) == len(set(keys))
    by_priority = {p: [r for r in campaign.CAMPAIGN if r.priority == p] for p in range(1, 6)}
    assert {r.name for r in by_priority[1]} == {
        "plain20", "plain32", "plain44", "plain56",
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"}
    assert {r.model_args.get("shortcut", "A") for r in by_priority[2]
            if r.chapter == "ch04"} == {"A", "B", "C"}
    assert {r.seed for r in by_priority[2] if r.chapter == "ch02"} == {1, 2}
    assert {r.model_args.get("variant") for r in by_priority[3] if r.model == "resnet110"} == {
        "v1", "bn_after_add", "relu_before_add", "relu_preact", "v2"}
    assert {r.recipe for r in by_priority[4]} == {"huang2016-sd-cifar"}
    assert {r.model for r in by_priority[5]} >= {"highway_mlp100", "plain_mlp100"}
    for run in campaign.CAMPAIGN:
        parse_model_name(run.model)
        assert run.recipe in RECIPES and run.what
        for scale in campaign.SCALES:
            parse_model_name(run.model_at(scale))


def test_runs_with_the_same_spec_share_a_fingerprint():
    a = campaign.find_run("ch02", "resnet20")
    a0 = campaign.find_run("ch04", "resnet20_A_seed0")
    b0 = campaign.find_run("ch04", "resnet20_B_seed0")
    a1 = campaign.find_run("ch04", "resnet20_A_seed1")
    assert a.fingerprint("paper") == a0.fingerprint("paper")
    assert len({a.fingerprint("paper"), b0.fingerprint("paper"), a1.fingerprint("paper")}) == 3
    assert a.fingerprint("paper") != a.fingerprint("local") != a.fingerprint("smoke")
    assert a.fingerprint("paper", "bf16") != a.fingerprint("paper")
    assert campaign.find_run("ch02", "resnet110").model_at("local") == "resnet56"
    assert campaign.smoke_model("resnet110_sd") == "resnet8_sd"
    assert campaign.smoke_model("preact_resnet164") == "preact_resnet8"
    assert campaign.smoke_model("highway_mlp100") == "highway_mlp3"
    with pytest.raises(ValueError, match="ch02 has"):
        campaign.find_run("ch02", "resnet21")


def test_campaign_list_answers_without_keras(tmp_path):
    script = ("import sys\nfrom resnet_keras.__main__ import main\n"
              "rc = main(['campaign', '--list', '--priority', '1'])\n"
              "print(rc, 'keras' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "0 False", proc.stderr[-2000:]
    assert sum("ch02/" in line and "missing" in line for line in lines) == 9


@pytest.fixture(scope="module")
def smoke_campaign(tmp_path_factory):
    """`campaign --scale smoke` for two runs of chapter 2 on a tiny CIFAR-shaped folder."""
    root = tmp_path_factory.mktemp("campaign")
    write_cifar10(root / "data", per_batch=60)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    argv = [sys.executable, "-m", "resnet_keras", "campaign", "--scale", "smoke",
            "--run", "ch02/resnet20", "ch02/plain20", "ch04/resnet20_A_seed0",
            "--results-dir", str(root / "results" / "smoke"), "--work-dir", str(root / "work"),
            "--data-dir", str(root / "data"), "--parallel", "2"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    return root, proc, argv, env


def test_smoke_campaign_stores_results_and_skips_them_next_time(smoke_campaign):
    root, proc, argv, env = smoke_campaign
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stored = root / "results" / "smoke"
    for key in ("ch02/resnet20", "ch02/plain20", "ch04/resnet20_A_seed0"):
        results = json.loads((stored / f"{key}.json").read_text())
        validate_results(results)
        run = campaign.find_run(*key.split("/"))
        assert results["spec_fingerprint"] == run.fingerprint("smoke")
        assert results["spec_fingerprint"] == fingerprint(results["spec"])
        assert results["status"] == "completed" and results["model"]["name"] == run.model_at(
            "smoke")
    assert (stored / "ch02" / "resnet20.keras").is_file()  # keep_model
    assert not (stored / "ch02" / "plain20.keras").exists()
    # ch04's option-A seed-0 run is ch02's ResNet-20: trained once.
    assert not (root / "work" / "smoke" / "ch04" / "resnet20_A_seed0").exists()
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0
    assert again.stdout.count("stored") == 3 and "[campaign] start" not in again.stdout


def test_a_notebook_presents_what_the_campaign_stored(smoke_campaign, monkeypatch):
    root, proc, _, _ = smoke_campaign
    assert proc.returncode == 0
    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    monkeypatch.setenv("RESNET_KERAS_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("RESNET_KERAS_DATA_DIR", str(root / "data"))
    env = notebook.setup("ch02", fonts=False, show=False)
    results = env.experiment("resnet20")
    assert results["presented"]["scale"] == "smoke" and not results["presented"]["trained_now"]
    assert results["presented"]["file"].endswith("smoke/ch02/resnet20.json")
    line = env.source(results)
    assert "빠른 점검" in line and "저장된 결과" in line and "ch02/resnet20.json" in line
    model = env.trained_model(results)
    assert model is not None and model.output_shape == (None, 10)


def _gpu_copy(results, run):
    """A stand-in for a results file made on a GPU at the paper scale (for the intake checks)."""
    fake = copy.deepcopy(results)
    fake["spec"] = run.spec("paper")
    fake["spec_fingerprint"] = fingerprint(fake["spec"])
    fake["environment"].update(device="NVIDIA H200", device_platform="gpu",
                               backend="jax")
    return fake


def test_ingest_takes_checked_results_and_refuses_the_rest(smoke_campaign, tmp_path):
    root, proc, _, _ = smoke_campaign
    assert proc.returncode == 0
    run = campaign.find_run("ch02", "resnet20")
    made = json.loads((root / "results" / "smoke" / "ch02" / "resnet20.json").read_text())
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = _gpu_copy(made, run)
    good["environment"]["git_commit"] = commit
    (inbox / "good.json").write_text(json.dumps(good))
    cpu = copy.deepcopy(good)
    cpu["environment"].update(device="cpu (x)", device_platform="cpu")
    (inbox / "cpu.json").write_text(json.dumps(cpu))
    stranger = copy.deepcopy(good)
    stranger["environment"]["git_commit"] = "0" * 40
    (inbox / "stranger.json").write_text(json.dumps(stranger))
    (inbox / "smoke.json").write_text(json.dumps(dict(made, environment=good["environment"])))
    (inbox / "broken.json").write_text("{")
    verdicts = campaign.ingest([inbox], tmp_path / "gpu", repo=REPO, echo=False)
    verdicts = {os.path.basename(k): v for k, v in verdicts.items()}
    assert verdicts["good.json"] == "taken as ch02/resnet20, ch04/resnet20_A_seed0"
    assert "not an accelerator" in verdicts["cpu.json"]
    assert "not in this repository" in verdicts["stranger.json"]
    assert "matches no campaign run" in verdicts["smoke.json"]
    assert "not a valid results file" in verdicts["broken.json"]
    taken = json.loads((tmp_path / "gpu" / "ch04" / "resnet20_A_seed0.json").read_text())
    assert taken["spec_fingerprint"] == run.fingerprint("paper")
    assert campaign.stored_result(tmp_path / "gpu", run, "paper") is not None


def test_published_results_are_downloaded_outside_a_checkout(smoke_campaign, tmp_path,
                                                              monkeypatch):
    """Colab has no checkout: the notebook fetches the stored file from the repository. Here
    a file:// URL stands in for the published one."""
    root, proc, _, _ = smoke_campaign
    assert proc.returncode == 0
    run = campaign.find_run("ch02", "resnet20")
    made = json.loads((root / "results" / "smoke" / "ch02" / "resnet20.json").read_text())
    published = tmp_path / "published"
    (published / "gpu" / "ch02").mkdir(parents=True)
    (published / "gpu" / "ch02" / "resnet20.json").write_text(json.dumps(_gpu_copy(made, run)))
    monkeypatch.chdir(tmp_path)  # not a checkout
    monkeypatch.delenv("RESNET_KERAS_SMOKE", raising=False)
    monkeypatch.delenv("RESNET_KERAS_RESULTS_DIR", raising=False)
    env = notebook.setup("ch02", fonts=False, show=False)
    assert env.results_root is None and env.published_url == notebook.PUBLISHED_RESULTS_URL
    env.published_url = published.as_uri()
    results = env.experiment("resnet20")
    assert results["presented"]["scale"] == "paper"
    assert results["presented"]["file"].startswith("file://")
    assert "논문 규모" in env.source(results) and "NVIDIA H200" in env.source(results)


def test_highway_runs_use_the_searched_learning_rates():
    """Chapter 5's runs train with the rate tools/highway_fig1.py chose on a validation split."""
    search = json.loads((pathlib.Path(__file__).resolve().parents[1] / "results" / "cpu" / "ch05"
                         / "fig1" / "search.json").read_text())
    runs = [run for run in campaign.CAMPAIGN if run.chapter == "ch05"]
    assert len(runs) == 8
    for run in runs:
        assert run.overrides["learning_rate"] == \
            search["networks"][run.model]["chosen_learning_rate"], run.key


def test_a_work_folder_of_an_earlier_configuration_is_set_aside_not_deleted(tmp_path):
    """After a recipe changes, the run's work folder holds another run's checkpoint: the
    campaign renames it (train would refuse to resume it) and trains afresh."""
    out = tmp_path / "ch08" / "resnet110_sd"
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"spec_fingerprint": "0123abcd"}))
    (out / "checkpoint").write_text("old")
    assert campaign._set_aside_an_earlier_configuration(out, "0123abcd") is None
    assert (out / "checkpoint").is_file()
    moved = campaign._set_aside_an_earlier_configuration(out, "ffff0000")
    assert moved.name == "resnet110_sd.superseded-0123abcd"
    assert (moved / "checkpoint").read_text() == "old" and not out.exists()
    assert campaign._set_aside_an_earlier_configuration(out, "ffff0000") is None
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"spec_fingerprint": "0123abcd"}))
    assert campaign._set_aside_an_earlier_configuration(out, "ffff0000").name.endswith("-2")
