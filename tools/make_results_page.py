"""Writes book/results.md: every measured number of the book beside the paper's.

Two kinds of rows:
- counts computed here from the library (parameters, multiply-adds), which
  need no training and are exact;
- training runs, read from the results JSON files that the chapter notebooks
  wrote under results/<scale>/<chapter>/<run>.json (real runs only).

Usage: python tools/make_results_page.py   (from the repository root)
"""

import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Paper numbers (CIFAR-10 test error %, unless stated).
PAPER_CIFAR = {
    # He et al. 2015, Table 6
    "resnet20": ("8.75", "He 2015 표 6"),
    "resnet32": ("7.51", "He 2015 표 6"),
    "resnet44": ("7.17", "He 2015 표 6"),
    "resnet56": ("6.97", "He 2015 표 6"),
    "resnet110": ("6.43 (최고), 6.61±0.16 (평균)", "He 2015 표 6"),
    # plain-20/56 appear only as curves (Fig. 6), with no number in the text
}
PAPER_PARAMS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
PAPER_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
PREACT_TABLE2 = {  # He et al. 2016, Table 2, ResNet-110 on CIFAR-10
    "v1": "6.61", "bn_after_add": "8.17", "relu_before_add": "7.84",
    "relu_preact": "6.71", "v2": "6.37",
}


def _counts():
    import keras  # noqa: F401  (imported late: the page can list runs without it)

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


def _runs():
    files = sorted((ROOT / "results").glob("*/*/*.json"))
    rows = [
        "| 규모 | 장 | 실행 | 모델 | 에폭 | 학습 이미지 | 최종 학습 오차 | 최종 테스트 오차 | 논문 | 학습 시간 | 장치 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in files:
        try:
            r = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if "history" not in r:
            continue
        scale, chapter, name = path.parts[-3], path.parts[-2], path.stem
        last = r["history"][-1] if r["history"] else {}
        train_err = last.get("train_error")
        test_err = r.get("final_test_error")
        model = r.get("model", {}).get("name", "?")
        variant = (r.get("model", {}).get("kwargs") or {}).get("variant", "v1")
        paper = PAPER_CIFAR.get(name, ("", ""))
        if variant in PREACT_TABLE2 and chapter == "ch07":
            paper = (PREACT_TABLE2[variant] + " (ResNet-110)", "He 2016 표 2")
        paper_text = f"{paper[0]} ({paper[1]})" if paper[0] else "—"
        fmt = lambda e: "—" if e is None else f"{100 * e:.2f}%"
        if r.get("diverged"):
            d = r["diverged"]
            test_text = f"발산(NaN 손실, {d.get('epoch')}에폭 {d.get('step')}번째 반복)"
        else:
            test_text = fmt(test_err)
        rows.append(
            f"| {scale} | {chapter} | {name} | {model} | {len(r['history'])} | "
            f"{r.get('dataset', {}).get('num_train', '?'):,} | {fmt(train_err)} | {test_text} | "
            f"{paper_text} | {r.get('wall_time_s', 0) / 60:.1f}분 | "
            f"{r.get('environment', {}).get('device', '?')} |"
        )
    return rows, len(files)


def main():
    runs, n = _runs()
    text = [
        "# 결과 모음",
        "",
        "이 책에서 측정한 숫자를 논문의 숫자 옆에 모았습니다. 이 페이지는 "
        "`python tools/make_results_page.py`가 만듭니다: 위의 두 표는 라이브러리로 그 자리에서 "
        "센 값이고, 아래 표는 각 장의 노트북이 실제 학습을 마치고 남긴 결과 파일"
        "(`results/<규모>/<장>/<실행>.json`)에서 읽은 값입니다.",
        "",
        ":::{note}",
        "`cpu` 규모의 학습은 GPU가 없는 환경에서 논문의 학습 일정을 줄여(학습 이미지 수천 장, "
        "에폭 몇 번) 돌린 것입니다. 절대 오차는 논문과 비교할 수 없고, 같은 규모의 실행끼리만 "
        "비교할 수 있습니다. 논문 수치는 전체 학습(64k 반복, 45k장)의 값입니다. GPU에서 전체 설정으로 "
        "돌린 결과는 `gpu` 규모로 이 표에 함께 실립니다.",
        ":::",
        "",
        "## 파라미터와 계산량 (학습 없음, 정확한 값)",
        "",
        "CIFAR-10 ResNet은 클래스 10개, 지름길 옵션 A 기준입니다. 곱셈-누산(multiply-accumulate)은 "
        "이미지 한 장의 순전파 기준이며, 논문의 \"FLOPs\"도 곱셈-덧셈 쌍을 센 값입니다.",
        "",
        *_counts(),
        "",
        "## 학습 결과",
        "",
        f"결과 파일 {n}개. 오차는 분류 오차(1 − 정확도)입니다. 손실이 NaN이 되어 멈춘 실행도 "
        "지우지 않고 그대로 싣습니다.",
        "",
        *(runs if n else ["아직 결과 파일이 없습니다."]),
        "",
    ]
    out = ROOT / "book" / "results.md"
    out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {out} ({n} runs)")


if __name__ == "__main__":
    main()
