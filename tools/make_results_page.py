"""Writes book/results.md: the papers' tables beside ours, from the campaign's results files.

For every table of the papers the book reproduces, one row per network: the paper's number, our
paper-scale result (``results/gpu``, trained on a GPU with the paper's full recipe) and our
local-scale result (``results/local``, the scaled-down run a CPU trains in minutes). Where a run
has several seeds the cell shows mean ± standard deviation over them and how many. Then the
counts that need no training (parameters, multiply-adds), and the list of every results file.

Usage: python tools/make_results_page.py [--check]   (from the repository root; --check exits
1 when book/results.md is not what this script writes, as tests/test_book.py runs it)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_keras.campaign import CAMPAIGN, RESULTS_DIRS, find_run, stored_result  # noqa: E402
from resnet_keras.stats import mean_std  # noqa: E402

PAPER_PARAMS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
PAPER_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
SCALE_HEADERS = {"paper": "우리: 논문 규모 (GPU)", "local": "우리: 축소 규모"}


def _stored(key, scale):
    run = find_run(*key.split("/"))
    return stored_result(ROOT / "results" / RESULTS_DIRS[scale], run, scale)


def _pct(x):
    return f"{100 * x:.2f}%"


def _cell(keys, scale, metric="reported_test_error"):
    values = []
    for key in keys:
        results = _stored(key, scale)
        if results is not None and results.get(metric) is not None:
            values.append(results[metric])
    if not values:
        return "—"
    mean, std, n = mean_std(values)
    if n == 1:
        return _pct(mean)
    return f"{_pct(mean)} ± {100 * std:.2f} (시드 {n}개)"


def _train_cell(keys, scale):
    values = []
    for key in keys:
        results = _stored(key, scale)
        if results is not None and results["history"]:
            values.append(results["history"][-1]["train_error"])
    if not values:
        return "—"
    mean, _, n = mean_std(values)
    return _pct(mean) + (f" (평균, {n}개)" if n > 1 else "")


def _local_model(keys):
    run = find_run(*keys[0].split("/"))
    return run.model_at("local")


def _table(rows, with_train=True):
    head = ["네트워크", "논문"]
    for scale in ("paper", "local"):
        head.append(SCALE_HEADERS[scale] + " 테스트 오차")
        if with_train:
            head.append(SCALE_HEADERS[scale] + " 마지막 에폭 학습 오차")
    head.append("축소 규모의 모델")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, paper, keys in rows:
        cells = [label, paper]
        for scale in ("paper", "local"):
            cells.append(_cell(keys, scale))
            if with_train:
                cells.append(_train_cell(keys, scale))
        cells.append(_local_model(keys))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _seeds(chapter, name, seeds=(0, 1, 2)):
    keys = [f"{chapter}/{name}"] + [f"{chapter}/{name}_seed{s}" for s in seeds if s]
    return [k for k in keys if any(r.key == k for r in CAMPAIGN)]


def _tables():
    out = []
    out += ["## He 등(2015) 표 6과 그림 6: CIFAR-10의 플레인 네트워크와 ResNet", "",
            "논문 숫자는 테스트 오차입니다(ResNet-110은 5번 실행의 최고값과 평균 ± 표준편차). "
            "플레인 네트워크는 그림 6의 곡선으로만 나옵니다(숫자 없음).", ""]
    rows = []
    for depth in (20, 32, 44, 56):
        rows.append((f"plain-{depth}", "그림 6 (곡선)", _seeds("ch02", f"plain{depth}")))
    table6 = {20: "8.75%", 32: "7.51%", 44: "7.17%", 56: "6.97%"}
    for depth in (20, 32, 44, 56):
        rows.append((f"ResNet-{depth}", table6[depth], _seeds("ch02", f"resnet{depth}")))
    rows.append(("ResNet-110", "6.43% (최고), 6.61 ± 0.16%", ["ch02/resnet110"]))
    out += _table(rows) + [""]

    out += ["## 지름길 옵션 A/B/C (4장)", "",
            "He 등(2015)은 옵션을 ImageNet에서만 비교했습니다(표 3, ResNet-34 top-1 오차 "
            "A 25.03%, B 24.52%, C 24.19%). 여기서는 CIFAR-10의 ResNet-20으로 시드 세 개씩 "
            "잽니다.", ""]
    rows = []
    for option, paper in (("A", "25.03% (ImageNet)"), ("B", "24.52% (ImageNet)"),
                          ("C", "24.19% (ImageNet)")):
        keys = [f"ch04/resnet20_{option}_seed{s}" for s in (0, 1, 2)]
        rows.append((f"ResNet-20, 옵션 {option}", paper, keys))
    out += _table(rows, with_train=False) + [""]

    out += ["## He 등(2016) 표 2와 표 3: 잔차 단위의 순서 (7장)", "",
            "표 2는 ResNet-110, 표 3은 병목 블록 ResNet-164의 CIFAR-10 테스트 오차입니다. 축소 "
            "규모에서는 ResNet-20이 대신합니다.", ""]
    rows = [
        ("(a) 원래 구조", "6.61%", ["ch07/resnet110_v1"]),
        ("(b) 덧셈 뒤 BN", "8.17%", ["ch07/resnet110_bn_after_add"]),
        ("(c) 덧셈 전 ReLU", "7.84%", ["ch07/resnet110_relu_before_add"]),
        ("(d) ReLU만 사전 활성화", "6.71%", ["ch07/resnet110_relu_preact"]),
        ("(e) 완전 사전 활성화", "6.37%", ["ch07/resnet110_v2"]),
        ("ResNet-164, 원래 구조", "5.93%", ["ch07/resnet164_v1"]),
        ("ResNet-164, 사전 활성화", "5.46%", ["ch07/resnet164_v2"]),
    ]
    out += _table(rows) + [""]

    out += ["## Huang 등(2016): 확률적 깊이 (8장)", "",
            "검증 오차가 가장 낮은 에폭의 테스트 오차입니다(논문과 저자 코드의 보고 방식). "
            "500에폭, 학습 이미지 45,000장.", ""]
    rows = [("ResNet-110, 확률적 깊이 (p_L = 0.5)", "5.25%", ["ch08/resnet110_sd"]),
            ("ResNet-110, 고정 깊이", "6.41%", ["ch08/resnet110_constant"])]
    out += _table(rows) + [""]

    out += ["## Srivastava 등(2015, Training Very Deep Networks) 그림 1: MNIST의 깊은 MLP (5장)",
            "", "논문은 숫자 없이 학습 손실 곡선만 보여 줍니다: 하이웨이 네트워크는 깊이 "
            "10~100에서 비슷하게 학습되고, 플레인 네트워크는 깊을수록 나빠집니다.", ""]
    rows = []
    for depth in (10, 20, 50, 100):
        for kind, label in (("highway_mlp", "하이웨이"), ("plain_mlp", "플레인")):
            rows.append((f"{label}-{depth}", "그림 1 (곡선)", [f"ch05/{kind}{depth}"]))
    out += _table(rows) + [""]
    return out


def _counts():
    import numpy as np

    from resnet_keras import count_macs
    from resnet_keras.models import resnet_cifar, resnet_imagenet

    rows = ["| 모델 | 학습 가능한 파라미터 (측정) | 논문 | 곱셈-누산 (측정) |", "|---|---|---|---|"]
    for depth, paper in PAPER_PARAMS.items():
        m = resnet_cifar(depth)
        trainable = sum(int(np.prod(w.shape)) for w in m.trainable_weights)
        rows.append(
            f"| ResNet-{depth} (CIFAR) | {trainable:,} | {paper}M | "
            f"{count_macs(m).total / 1e6:.1f}M |"
        )
    rows += ["", "| 모델 | 파라미터 (측정) | 곱셈-누산 (측정) | 논문 표 1 FLOPs |", "|---|---|---|---|"]
    for depth, gflops in PAPER_GFLOPS.items():
        m = resnet_imagenet(depth)
        rows.append(
            f"| ResNet-{depth} | {m.count_params():,} | {count_macs(m).total / 1e9:.2f} × 10⁹ | "
            f"{gflops} × 10⁹ |"
        )
    return rows


def _files():
    rows = ["| 규모 | 결과 파일 | 모델 | 에폭 | 학습 이미지 | 보고 테스트 오차 | 장치 | 백엔드 | "
            "학습 시간 | 날짜 |", "|---|---|---|---|---|---|---|---|---|---|"]
    n = 0
    for scale in ("paper", "local"):
        folder = ROOT / "results" / RESULTS_DIRS[scale]
        for path in sorted(folder.glob("*/*.json")):
            try:
                r = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            if "spec_fingerprint" not in r:
                continue
            n += 1
            err = r.get("reported_test_error")
            status = "" if r["status"] == "completed" else f" ({r['status']})"
            env = r.get("environment", {})
            rows.append(
                f"| {scale} | `{path.relative_to(ROOT)}` | {r['model']['name']} | "
                f"{len(r['history'])} | {r['dataset']['num_train']:,} | "
                f"{'—' if err is None else _pct(err)}{status} | {env.get('device', '?')} | "
                f"{env.get('backend', '?')} | {r['wall_time_s'] / 60:.1f}분 | "
                f"{(r.get('finished_at') or '')[:10]} |")
    return rows, n


def render():
    files, n = _files()
    text = [
        "# 결과 모음",
        "",
        "논문의 표를 우리 측정과 나란히 놓습니다. 이 페이지는 `python tools/make_results_page.py`가 "
        "결과 파일(`results/<규모>/<장>/<실행>.json`)에서 만듭니다. 각 실행은 "
        "`python -m resnet_keras campaign --list`에 있는 책의 실행입니다.",
        "",
        ":::{note}",
        "**논문 규모**는 논문의 학습 설정 그대로(CIFAR-10 학습 이미지 50,000장, 64k 반복 등) GPU에서 "
        "학습한 결과이고, 아직 없는 칸은 —입니다. **축소 규모**는 GPU 없이 CPU에서 몇 분 안에 "
        "끝나도록 학습 이미지 4,000장, 8에폭으로 줄이고 110층 이상의 망은 더 얕은 망으로 바꾼 "
        "실행입니다(마지막 열). 축소 규모의 오차는 논문 숫자와 비교할 수 없고, 같은 규모의 실행끼리만 "
        "비교할 수 있습니다.",
        ":::",
        "",
        *_tables(),
        "## 파라미터와 계산량 (학습 없음, 정확한 값)",
        "",
        "CIFAR-10 ResNet은 클래스 10개, 지름길 옵션 A 기준입니다. 곱셈-누산(multiply-accumulate)은 "
        "이미지 한 장의 순전파 기준입니다.",
        "",
        *_counts(),
        "",
        "## 모든 결과 파일",
        "",
        f"결과 파일 {n}개. 오차는 분류 오차(1 − 정확도)이고, 레시피가 보고하는 값(마지막 에폭, "
        "또는 Huang 등처럼 검증 오차가 가장 낮은 에폭)입니다.",
        "",
        *(files if n else ["아직 결과 파일이 없습니다."]),
        "",
    ]
    return "\n".join(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if book/results.md differs from what would be written")
    args = parser.parse_args(argv)
    out = ROOT / "book" / "results.md"
    text = render()
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date: run python tools/make_results_page.py")
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
