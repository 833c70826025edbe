"""Write docs/benchmarks.md from the benchmark JSONs in docs/ and the committed artifacts.

python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

from secomp.info import model_info

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# the v1-era compressed files were retired from models/ when the corpus-v2 artifacts took their
# names; their timings stay, in docs/rtf_*_v1.json
V1_FILES_COMMIT = "eda90f4"
RTF_NOTES = [
    "On the v1 tables: unstructured (C1) and structured (C2) pruning leave the dense shapes in place: PyTorch and",
    "onnxruntime multiply the zeros, so C1 and C2 do the baseline's work, within a few percent.",
    "Speed comes from `secomp slim` (`-slim` rows): the C2 model with the recurrent inputs and",
    "units, the convolution input channels and the convolution output channels nobody reads",
    "removed, same output. CRN-C2-slim (MACs 8.64 G -> 4.80 G) is 1.5-1.8x faster.",
    "GCRN-C2-slim (6.58 G -> 3.04 G, pruned with whole-input-channel groups,",
    "`conv_grouping=in_channel`) is 1.11-1.18x faster, every interval above 1; half of the",
    "GCRN's time is the sequential grouped LSTM, whose units the LayerNorms keep, so halving",
    "the MACs saves about a seventh of the time.",
    "`checkpoints/gcrn-c2-kernel-slim.secomp` is the GCRN-C2-slim pruned with the paper's",
    "one-kernel groups (`models/gcrn-c2-slim.secomp` at commit 64c8980, 5.03 G): timed in the",
    "same run it gains 1-3%, because kernel groups leave few whole channels for slimming to",
    "remove.",
    "",
]


def _load(name: str):
    p = DOCS / name
    return json.loads(p.read_text()) if p.exists() else None


def main() -> None:
    L = ["# Benchmarks", "", "Each section names the script that produced it and the machine.", ""]
    m = _load("metric_throughput.json")
    if m:
        cores = m["cores"]
        L += [
            "## Metric throughput (`benchmarks/metric_throughput.py`)",
            "",
            f"`secomp evaluate identity` on {m['files']} demo mixtures (STOI, ESTOI, PESQ, SI-SDR, SNR",
            f"of input and output), CPU `{m['cpu']}` with {cores} cores, both runs in one process:",
            "",
            "| jobs | files/s |",
            "|---|---|",
            f"| 1 | {m['files_per_s_1_job']:.2f} |",
            f"| {cores} | {m[f'files_per_s_{cores}_jobs']:.2f} |",
            "",
            f"Speed-up with {cores} jobs: **{m['speedup']:.2f}x**.",
            "",
        ]
    t = _load("train_throughput.json")
    if t and "settings" in t:
        old, new = t["settings"]["old"], t["settings"]["new"]
        new_alone = sum(r["audio_s_per_s"] for r in new["alone"].values()) / len(new["alone"])
        L += [
            "## Training throughput (`benchmarks/train_throughput.py`)",
            "",
            f"One {t['gpu']}, one run (`bash recipes/gpu_v5.sh bench`). Audio-seconds of 4-s training",
            "mixtures per second of wall time, full steps (make the batch on the GPU, forward,",
            f"backward, Adam; bf16 autocast), {t['seconds']:.0f}-s windows after 8 warm-up steps.",
            f"**Old**: batch {old['batch_size']}, one model at a time (every run before corpus v2).",
            f"**New**: batch {new['batch_size']}, and all four models training at once on the one GPU,",
            "one process each, started together (what `recipes/gpu_v5.sh train` does). 'input' is",
            "the time to make one batch of mixtures alone, as a share of a full step (model alone).",
            "",
            "| model | old, alone | old, 4 at once | new, alone | new, 4 at once | input share (new) |",
            "|---|---|---|---|---|---|",
        ]
        for name in t["models"]:
            L.append(
                f"| {name} | {old['alone'][name]['audio_s_per_s']:.0f} | "
                f"{old['together'][name]['audio_s_per_s']:.0f} | "
                f"{new['alone'][name]['audio_s_per_s']:.0f} | "
                f"{new['together'][name]['audio_s_per_s']:.0f} | "
                f"{new['alone'][name]['input_share_pct']:.0f}% |"
            )
        L += [
            f"| **all four** | {t['old_one_at_a_time_audio_s_per_s']:.0f} (one at a time) | "
            f"{old['together_aggregate_audio_s_per_s']:.0f} | - | "
            f"**{new['together_aggregate_audio_s_per_s']:.0f}** | |",
            "",
            f"GPU utilisation (nvidia-smi, every 0.5 s): old alone {old['alone_gpu_util_pct']:.0f}%,"
            f" old together {old['together_gpu_util_pct']:.0f}%; new alone"
            f" {new['alone_gpu_util_pct']:.0f}%, new together {new['together_gpu_util_pct']:.0f}%"
            " (the 'alone' figures include each worker's set-up, so they read low).",
            "",
            f"Aggregate, new settings with four at once against the old one-at-a-time figure:"
            f" **{t['speedup_new_together_vs_old_one_at_a_time']:.2f}x** (the issue's goal was"
            f" 2x). Batch {new['batch_size']} alone gives"
            f" {new_alone / t['old_one_at_a_time_audio_s_per_s']:.2f}x one model at a time"
            f" ({t['old_one_at_a_time_audio_s_per_s']:.0f} -> {new_alone:.0f} s/s): one step takes "
            + ", ".join(
                f"{n} {old['alone'][n]['step_ms']:.0f} -> {new['alone'][n]['step_ms']:.0f} ms"
                for n in t["models"]
            )
            + f" (batch {old['batch_size']} -> {new['batch_size']}), so for the LSTM-heavy"
            " models a step is mostly kernel launches, not arithmetic (the LSTMs step through",
            "400 frames), and a larger batch is nearly free;"
            f" running the four at once adds {new['together_aggregate_audio_s_per_s'] / new_alone:.2f}x"
            f" at batch {new['batch_size']}"
            f" ({old['together_aggregate_audio_s_per_s'] / t['old_one_at_a_time_audio_s_per_s']:.2f}x"
            f" at batch {old['batch_size']}), as time-slicing between processes fills the gaps",
            "between one model's kernels. The input pipeline is not the bottleneck: making a batch",
            f"costs {min(r['input_share_pct'] for r in new['alone'].values()):.0f}-"
            f"{max(r['input_share_pct'] for r in new['alone'].values()):.0f}% of a step (new"
            " settings) and the batches are made on the GPU from in-memory banks, so more",
            "processes do not wait on file I/O; the corpus is decoded once into a shared bank cache",
            "(`bank_cache`). Not tried yet: `torch.compile`, CUDA graphs, MPS.",
            "Measured in the v6 lease (`NEW_BATCH=64 bash recipes/gpu_v5.sh bench`), while the",
            "machine was also unpacking the corpus shards that later calls carried (tar, CPU only).",
            "The v6 training then ran CRN and GCRN at batch 64 and LSTM and the separation model at",
            "batch 32 together, with the GPU 99% busy (`results/training/v6/gpu_util_1xh200.csv`).",
            "",
        ]
    rtf = [_load(p.name) | {"v1": p.stem.endswith("_v1")} for p in sorted(DOCS.glob("rtf_*.json"))]
    if any(rtf):
        L += [
            "## Real-time factor on CPU (`benchmarks/rtf.py`)",
            "",
            "Seconds of processing per second of audio (real speech of the length given, median of the",
            "repetitions given in each JSON). PyTorch runs the whole model (STFT, network, inverse",
            "STFT); onnxruntime runs the exported network only. The models of one table were timed",
            "interleaved in one run (each repetition times every model once); the speed-up in",
            "parentheses is the median of the paired per-repetition ratios baseline / model, with",
            "its 95% bootstrap interval.",
            "",
        ]
        for r in rtf:
            if not r:
                continue
            mach = r["machine"]
            keys = [k for k in r["rows"][0] if k.endswith("t") and "rtf" in k]
            if r["v1"]:
                L += [
                    "**v1-era files** (retired from `models/`; `git show"
                    f" {V1_FILES_COMMIT}:models/NAME.secomp` gives them back):",
                    "",
                ]
            L += [
                f"CPU `{mach['cpu']}`, {mach['cores']} cores, torch {mach['torch']}, "
                f"{r['reps']} repetitions of {r['rows'][0]['audio_s']:.0f} s of speech:",
                "",
                "| model | " + " | ".join(keys) + " |",
                "|---|" + "---|" * len(keys),
            ]
            for row in r["rows"]:
                cells = []
                for k in keys:
                    sp = row.get("speedup", {}).get(k)
                    ratio = (
                        "baseline"
                        if sp is None
                        else (f"{sp['median']:.2f}x [{sp['ci95_low']:.2f}, {sp['ci95_high']:.2f}]")
                    )
                    cells.append(f"{row[k]:.3f} ({ratio})")
                name = row["model"]
                if name.endswith("-c2-fast.secomp"):  # renamed since, same bytes
                    name += f" (now `{name.replace('-c2-fast', '-c2-slim')}`)"
                L.append(f"| {name} | " + " | ".join(cells) + " |")
            L.append("")
        L += RTF_NOTES
    arts = sorted((ROOT / "models").glob("*.secomp"))
    if arts:
        L += [
            "## Artifact bytes vs entropy bound (`secomp info --json`)",
            "",
            "| file | bytes | entropy bound | above bound | ratio vs dense fp32 |",
            "|---|---|---|---|---|",
        ]
        for a in arts:
            i = model_info(a, macs=False)
            L.append(
                f"| `models/{a.name}` | {i['file_bytes']:,} | {i['entropy_bound_bytes']:,.0f} | "
                f"{100 * i['above_entropy_bound']:.1f}% | {i['compression_ratio']:.1f}x |"
            )
        L += [
            "",
            "The bound is the order-0 entropy of every integer stream (positions, cluster",
            "indices) plus the float streams, header and checksum as stored (docs/format.md).",
            "",
        ]
    stream = DOCS / "stream_latency.md"  # the streaming-latency section, written from its run
    if stream.exists():
        L += ["", stream.read_text().rstrip("\n")]
    (DOCS / "benchmarks.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
