"""Two-talker separation: running a separation model on audio of any length, separation test
sets, and their evaluation (SI-SDR improvement, SDR, STOI, PESQ with the best permutation).

Long inputs are cut into chunks exactly as `secomp.enhance` does (each chunk gets `context_s`
seconds of the preceding audio, only its new part is kept, joined with a short cross-fade, one
level gain for the whole input). Separation adds one problem enhancement does not have: a
model run afresh on a chunk may put the talkers in the other order. Each chunk's outputs are
therefore re-ordered to match the previous output on the second half of the context they
share (where the model has warmed up), before the cross-fade.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .audio import (
    REFERENCE_DBFS,
    SAMPLE_RATE,
    SILENCE_PEAK,
    AudioError,
    level_gain,
    list_audio,
    load_audio,
    save_audio,
)
from .enhance import LOOKAHEAD, _chunks, checked_frames, file_level_gain
from .metrics import METRICS, all_metrics, mean_ci95, si_sdr

SEP_METRICS = (*METRICS, "sdr")
SDR_FILTER = 512  # BSS Eval's distortion filter length (taps), as in mir_eval / bss_eval v3


def check_separation_model(model: nn.Module, what: str = "model") -> None:
    """A ValueError unless `model` separates two talkers (its forward gives [B, 2, N])."""
    if getattr(model, "n_speakers", 1) != 2:
        raise ValueError(
            f"{what}: {type(model).__name__} is not a two-talker separation model "
            "(train one with configs/train/sep.yaml)"
        )


def _best_order(seg: np.ndarray, prev: np.ndarray) -> list[int]:
    """The talker order of `seg` [2, L] that best matches `prev` [2, L] (sum of correlations)."""
    best, order = -math.inf, [0, 1]
    for perm in itertools.permutations(range(seg.shape[0])):
        score = sum(
            float(np.dot(seg[p], prev[i]))
            / (float(np.linalg.norm(seg[p]) * np.linalg.norm(prev[i])) + 1e-12)
            for i, p in enumerate(perm)
        )
        if score > best:
            best, order = score, list(perm)
    return order


def fit_to_mixture(est: np.ndarray, mix: np.ndarray, load: float = 1e-3) -> np.ndarray:
    """est [2, L] with each talker scaled by the gain that makes their sum closest to mix [L]
    (least squares, pulled towards gain 1 by a ridge of `load` x the mean talker energy, so
    near-identical estimates do not get huge opposite gains). Why: an SI-SDR-trained model's
    output scale is arbitrary; this puts the talkers at the mixture's level."""
    e = est.astype(np.float64)
    gram = e @ e.T
    lam = load * float(np.trace(gram)) / len(e) + 1e-12
    gains = np.linalg.solve(gram + lam * np.eye(len(e)), e @ mix.astype(np.float64) + lam)
    return (est * gains[:, None].astype(np.float32)).astype(np.float32)


def _stream(
    model: nn.Module,
    blocks: Iterator[np.ndarray],
    n: int,
    chunk: int,
    ctx: int,
    fade: int,
    gain: float,
    device: str | torch.device,
) -> Iterator[np.ndarray]:
    """Final output pieces [2, k], in order, for input blocks (already level-scaled) of `chunk`
    samples of an n-sample signal. Holds at most one chunk, its context and its outputs. Each
    chunk's outputs are scaled to fit the chunk's input (`fit_to_mixture`)."""
    history = np.zeros(0, np.float32)  # input: the context before this chunk
    pending = np.zeros((2, 0), np.float32)  # output not final yet: [start - len, start)
    recent = np.zeros((2, 0), np.float32)  # final output just before `pending`
    start = 0
    for block in blocks:
        stop = start + len(block)
        x = np.concatenate([history, block])
        lo = start - len(history)
        with torch.inference_mode():
            seg = model(torch.from_numpy(x)[None].to(device))[0].float().cpu().numpy()
        seg = fit_to_mixture(seg, x) / np.float32(gain)
        if start > 0:
            # `recent` + `pending` hold the output for the context [lo, start); compare on its
            # second half, where this chunk's model run has warmed up
            shared = start - lo
            prev = np.concatenate([recent, pending], 1)[:, -shared:]
            half = shared // 2
            if np.abs(prev[:, half:]).max() < SILENCE_PEAK:  # nothing to match there
                half = 0
            seg = seg[_best_order(seg[:, half:shared], prev[:, half:])]
        keep = max(0, start - LOOKAHEAD)  # rewrite from here on
        if start > 0:
            f = min(fade, keep - lo)
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            p0 = start - pending.shape[1]
            done = pending[:, : keep - f - p0]
            blend = pending[:, keep - f - p0 : keep - p0] * (1 - ramp)
            blend += seg[:, keep - lo - f : keep - lo] * ramp
            piece = np.concatenate([done, blend], 1)
            recent = np.concatenate([recent, piece], 1)[:, -ctx:]
            yield piece
        out = seg[:, keep - lo :]
        hold = LOOKAHEAD + fade if stop < n else 0
        piece = out[:, : out.shape[1] - hold]
        recent = np.concatenate([recent, piece], 1)[:, -ctx:]
        pending = out[:, out.shape[1] - hold :]
        history = x[-ctx:]
        start = stop
        yield piece


def _settings(chunk_s: float, context_s: float, fade_s: float) -> tuple[int, int, int]:
    chunk, ctx, fade = (int(s * SAMPLE_RATE) for s in (chunk_s, context_s, fade_s))
    if chunk <= 0:
        raise ValueError(f"chunk length must be positive, got {chunk_s} s")
    return chunk, max(ctx, LOOKAHEAD + fade), fade


def separate_array(
    model: nn.Module,
    x: np.ndarray,
    chunk_s: float = 60.0,
    context_s: float = 10.0,
    fade_s: float = 0.05,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Separate one mono 16 kHz signal [N] into two talkers [2, N] (order arbitrary but the same
    through the whole signal); memory is O(chunk), not O(N) beyond input and output."""
    check_separation_model(model)
    model.eval()
    n = len(x)
    gain = level_gain(float(np.dot(x.astype(np.float64), x)), n)
    chunk, ctx, fade = _settings(chunk_s, context_s, fade_s)
    if n <= chunk + ctx:
        chunk = n  # one pass
    scaled = (x * gain).astype(np.float32)
    blocks = (scaled[a:b] for a, b in _chunks(n, chunk))
    pieces = list(_stream(model, blocks, n, chunk, ctx, fade, gain, device))
    return np.concatenate(pieces, 1)


def output_paths(dst_stem: Path, suffix: str = ".wav") -> tuple[Path, Path]:
    """<stem>_s1.wav and <stem>_s2.wav beside each other."""
    return tuple(dst_stem.with_name(f"{dst_stem.name}_s{k}{suffix}") for k in (1, 2))  # type: ignore[return-value]


def separate_file(
    model: nn.Module,
    src: str | Path,
    dst_stem: str | Path,
    chunk_s: float = 60.0,
    context_s: float = 10.0,
    fade_s: float = 0.05,
    device: str | torch.device = "cpu",
    downmix: bool = False,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Separate a file of any length into `<dst_stem>_s1.wav` and `<dst_stem>_s2.wav`, reading
    and writing block by block (memory: one chunk and its context). The outputs equal
    `separate_array` on the whole file. Files at other rates are read whole and resampled. Both
    outputs are written under temporary names and renamed at the end; a bad input (unreadable,
    multi-channel without `downmix`, NaN, silent, too short) leaves nothing behind."""
    import soundfile as sf

    check_separation_model(model)
    model.eval()
    src = Path(src)
    outs = output_paths(Path(dst_stem))
    for out in outs:
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out}: exists; refusing to overwrite (use --overwrite)")
        if out.resolve() == src.resolve():
            raise FileExistsError(f"{out}: output would overwrite its input")
    try:
        info = sf.info(str(src))
    except Exception as e:  # soundfile raises several types for corrupt files
        raise AudioError(f"{src}: unreadable audio ({type(e).__name__}: {e})") from None
    if info.samplerate != SAMPLE_RATE:
        y = separate_array(
            model, load_audio(src, downmix=downmix), chunk_s, context_s, fade_s, device
        )
        for out, talker in zip(outs, y):
            save_audio(out, talker, overwrite)
        return outs
    n = checked_frames(src, info, downmix)
    chunk, ctx, fade = _settings(chunk_s, context_s, fade_s)
    if n <= chunk + ctx:
        chunk = n
    gain = file_level_gain(src, n, chunk)
    outs[0].parent.mkdir(parents=True, exist_ok=True)
    tmps = [out.with_name(f".{out.name}.{os.getpid()}.part") for out in outs]
    fmt = "WAV" if outs[0].suffix.lower() == ".wav" else "FLAC"
    try:
        with (
            sf.SoundFile(str(src)) as fin,
            sf.SoundFile(str(tmps[0]), "w", SAMPLE_RATE, 1, "PCM_16", format=fmt) as f1,
            sf.SoundFile(str(tmps[1]), "w", SAMPLE_RATE, 1, "PCM_16", format=fmt) as f2,
        ):

            def blocks() -> Iterator[np.ndarray]:
                for a, b in _chunks(n, chunk):
                    block = fin.read(b - a, dtype="float32", always_2d=True).mean(axis=1)
                    yield block * np.float32(gain)

            for piece in _stream(model, blocks(), n, chunk, ctx, fade, gain, device):
                f1.write(np.clip(piece[0], -1, 1))
                f2.write(np.clip(piece[1], -1, 1))
        for tmp, out in zip(tmps, outs):
            tmp.replace(out)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    return outs


# ----------------------------------------------------------------------------- metrics


def bss_sdr(est: np.ndarray, ref: np.ndarray, taps: int = SDR_FILTER) -> float:
    """BSS Eval SDR (Vincent et al. 2006) in dB: the part of `est` that a `taps`-tap FIR filter
    of `ref` explains is the target, the rest is distortion. Equal to bss_eval_sources' SDR
    (which projects the target on its own reference only)."""
    from scipy.linalg import solve_toeplitz

    est, ref = est.astype(np.float64), ref.astype(np.float64)
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    size = 1 << int(np.ceil(np.log2(n + taps)))
    r_f, e_f = np.fft.rfft(ref, size), np.fft.rfft(est, size)
    auto = np.fft.irfft(np.abs(r_f) ** 2, size)[:taps]
    cross = np.fft.irfft(np.conj(r_f) * e_f, size)[:taps]  # cross[k] = sum ref[t] est[t + k]
    auto[0] += 1e-10 * auto[0] + 1e-20  # tiny diagonal load: silent stretches make R singular
    h = solve_toeplitz(auto, cross)
    target = np.fft.irfft(r_f * np.fft.rfft(h, size), size)[:n]
    distortion = est - target
    return float(10 * np.log10((target @ target + 1e-12) / (distortion @ distortion + 1e-12)))


def talker_metrics(est: np.ndarray, ref: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
    """secomp's metrics (STOI, ESTOI, PESQ, SI-SDR, SNR) plus BSS Eval SDR of one talker."""
    values, errors = all_metrics(est, ref)
    try:
        values["sdr"] = bss_sdr(est, ref)
        if not math.isfinite(values["sdr"]):
            raise ValueError("non-finite result")
    except Exception as e:  # a degenerate signal must not stop an evaluation
        values["sdr"] = math.nan
        errors["sdr"] = f"{type(e).__name__}: {e}"
    return values, errors


def best_permutation(est: np.ndarray, refs: np.ndarray) -> list[int]:
    """The order of `est` [2, N] whose mean SI-SDR against `refs` [2, N] is highest."""
    best, order = -math.inf, [0, 1]
    for perm in itertools.permutations(range(len(refs))):
        score = float(np.mean([si_sdr(est[p], refs[i]) for i, p in enumerate(perm)]))
        if score > best:
            best, order = score, list(perm)
    return order


# ----------------------------------------------------------------------------- test sets

MANIFEST_COLUMNS = ("id", "mix", "s1", "s2", "speaker1", "speaker2", "level_db", "corpus")


def _utterances_with_corpus(speech_dir: Path) -> list[tuple[Path, str, str]]:
    """(path, speaker, corpus) below speech_dir (<speaker>/<utt>); the corpus comes from the
    speech.csv of a corpus root above it (ROOT/speech/<split>), "" without one."""
    paths = list_audio(speech_dir)
    corpus: dict[Path, str] = {}
    for root in speech_dir.resolve().parents:
        if (root / "speech.csv").exists():
            with open(root / "speech.csv", newline="") as f:
                corpus = {
                    (root / r["path"]).resolve(): r.get("corpus") or "" for r in csv.DictReader(f)
                }
            break
    return [(p, p.parent.name, corpus.get(p.resolve(), "")) for p in paths]


def _corpus_order(corpora: list[str], share: dict[str, float] | None, n: int) -> list[str | None]:
    """The corpus of each mixture: None (any) without `share`; else round(share * n) mixtures
    of each (the largest share takes the remainder), interleaved."""
    if not share:
        return [None] * n
    missing = [c for c in share if c not in corpora]
    if missing or any(v <= 0 for v in share.values()):
        raise ValueError(
            f"corpus share: unknown corpus or share <= 0 ({', '.join(missing) or 'share <= 0'});"
            f" corpora here: {', '.join(sorted(set(corpora))) or 'none (no speech.csv)'}"
        )
    total = sum(share.values())
    counts = {c: round(v / total * n) for c, v in share.items()}
    counts[max(share, key=lambda c: share[c])] += n - sum(counts.values())
    filled = dict.fromkeys(counts, 0)
    order: list[str | None] = []
    for _ in range(n):
        c = min(counts, key=lambda k: (filled[k] / counts[k] if counts[k] else 2.0, k))
        filled[c] += 1
        order.append(c)
    return order


def make_separation_testset(
    speech_dir: str | Path,
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    level_db: tuple[float, float] = (-2.5, 2.5),
    corpus_share: dict[str, float] | None = None,
    progress: bool = True,
) -> Path:
    """Write n two-talker mixtures `<id>_mix.flac`, `<id>_s1.flac`, `<id>_s2.flac` and
    manifest.csv (columns MANIFEST_COLUMNS). Talker 2 is a different speaker of the same corpus
    (when it has another), its RMS relative to talker 1 uniform in `level_db` (dB); both whole
    utterances are cut to the shorter one's length, so the talkers overlap throughout. The
    mixture is scaled to REFERENCE_DBFS RMS (peak at most 0.99) and the references by the same
    gain, so mix = s1 + s2 up to 16-bit rounding. The same arguments give the same bytes."""
    from tqdm import tqdm

    speech_dir, out_dir = Path(speech_dir), Path(out_dir)
    if not speech_dir.is_dir():
        raise FileNotFoundError(f"{speech_dir}: speech folder not found")
    utts = _utterances_with_corpus(speech_dir)
    if len({spk for _, spk, _ in utts}) < 2:
        raise ValueError(f"{speech_dir}: two-talker mixtures need at least two speakers")
    if n <= 0:
        raise ValueError(f"--n must be positive, got {n}")
    order = _corpus_order([c for _, _, c in utts], corpus_share, n)
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in tqdm(range(n), desc="make-testset", disable=not progress):
        pool = [u for u in utts if order[i] is None or u[2] == order[i]]
        p1, spk1, corpus1 = pool[int(rng.integers(len(pool)))]
        others = [u for u in pool if u[1] != spk1 and u[2] == corpus1] or [
            u for u in utts if u[1] != spk1
        ]
        p2, spk2, _ = others[int(rng.integers(len(others)))]
        a, b = load_audio(p1), load_audio(p2)
        length = min(len(a), len(b))
        a, b = a[:length].astype(np.float64), b[:length].astype(np.float64)
        rel = float(rng.uniform(*level_db))
        b *= np.sqrt(np.mean(a**2) / (np.mean(b**2) + 1e-20)) * 10 ** (rel / 20)
        mix = a + b
        gain = 10 ** (REFERENCE_DBFS / 20) / (np.sqrt(np.mean(mix**2)) + 1e-20)
        gain = min(gain, 0.99 / np.abs(mix).max())
        ident = f"{i:05d}"
        names = [f"{ident}_{k}.flac" for k in ("mix", "s1", "s2")]
        for name, sig in zip(names, (mix, a, b)):
            save_audio(out_dir / name, (sig * gain).astype(np.float32), overwrite=True)
        rows.append([ident, *names, spk1, spk2, f"{rel:.3f}", corpus1])
    manifest = out_dir / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_COLUMNS)
        w.writerows(rows)
    return manifest


@dataclass(frozen=True)
class Mixture:
    id: str
    mix: Path
    refs: tuple[Path, Path]
    extra: dict[str, str]


def is_separation_manifest(source: str | Path) -> bool:
    """Whether `source` (a manifest.csv or a folder holding one) has mix, s1 and s2 columns."""
    source = Path(source)
    if source.is_dir():
        source = source / "manifest.csv"
    if not source.is_file():
        return False
    with open(source, newline="") as f:
        header = next(csv.reader(f), [])
    return {"mix", "s1", "s2"} <= set(header)


def read_mixtures(source: str | Path) -> list[Mixture]:
    """Mixtures from a separation manifest (paths relative to it) or a folder holding one."""
    source = Path(source)
    if source.is_dir():
        source = source / "manifest.csv"
    if not source.exists():
        raise FileNotFoundError(f"{source}: not found")
    with open(source, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"mix", "s1", "s2"} <= set(reader.fieldnames):
            raise ValueError(f"{source}: a separation manifest needs columns mix, s1, s2")
        out = []
        for k, row in enumerate(reader):
            if not (row.get("mix") and row.get("s1") and row.get("s2")):
                raise ValueError(f"{source}: row {k + 2} has an empty mix, s1 or s2")
            out.append(
                Mixture(
                    row.get("id") or str(k),
                    source.parent / row["mix"],
                    (source.parent / row["s1"], source.parent / row["s2"]),
                    {c: v for c, v in row.items() if c not in ("id", "mix", "s1", "s2")},
                )
            )
    if not out:
        raise ValueError(f"{source}: no mixtures")
    return out


# ----------------------------------------------------------------------------- evaluation


def _score(item: tuple[str, np.ndarray, np.ndarray, np.ndarray]):
    """Per mixture: metrics of the mixture against each reference and of each separated talker
    (best permutation by SI-SDR) against its own, each averaged over the two talkers."""
    ident, mix, est, refs = item
    n = min(len(mix), est.shape[1], refs.shape[1])
    mix, est, refs = mix[:n], est[:, :n], refs[:, :n]
    est = est[best_permutation(est, refs)]
    sides: dict[str, list[dict[str, float]]] = {"mixture": [], "separated": []}
    errors: dict[str, str] = {}
    for k in range(2):
        for side, sig in (("mixture", mix), ("separated", est[k])):
            values, errs = talker_metrics(sig, refs[k])
            sides[side].append(values)
            errors.update({f"{side}.s{k + 1}.{m}": e for m, e in errs.items()})
    mean = {
        side: {m: float(np.mean([v[m] for v in vals])) for m in SEP_METRICS}
        for side, vals in sides.items()
    }
    return ident, mean, errors


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows), "mixture": {}, "separated": {}, "improvement": {}}
    ci: dict[str, dict[str, float]] = {"mixture": {}, "separated": {}, "improvement": {}}
    for m in SEP_METRICS:
        for side in ("mixture", "separated"):
            s = mean_ci95([r[side][m] for r in rows])
            out[side][m], ci[side][m] = s["mean"], s["ci95"]
        d = mean_ci95([r["separated"][m] - r["mixture"][m] for r in rows])
        out["improvement"][m], ci["improvement"][m] = d["mean"], d["ci95"]
    out["si_sdri"] = out["improvement"]["si_sdr"]
    out["sdri"] = out["improvement"]["sdr"]
    out["ci95"] = ci
    return out


def evaluate_separation(
    model: nn.Module,
    mixtures: list[Mixture],
    jobs: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-mixture rows). Summary keys: n, mixture and separated (mean of each
    metric, the mixture scored against each talker's reference), improvement, si_sdri, sdri
    (dB), ci95 (95% half-widths), by_corpus, missing, failed. A file that cannot be read is
    listed in `failed` and skipped."""
    from tqdm import tqdm

    check_separation_model(model)
    jobs = jobs or os.cpu_count() or 1
    meta = {m.id: m for m in mixtures}
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    futures = []
    ex = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        for m in tqdm(mixtures, desc="separate", disable=not progress):
            try:
                mix = load_audio(m.mix)
                refs = [load_audio(r, min_duration_s=0.0) for r in m.refs]
            except (AudioError, FileNotFoundError) as e:
                failed.append({"id": m.id, "reason": str(e)})
                continue
            n = min(len(mix), *(len(r) for r in refs))
            refs_arr = np.stack([r[:n] for r in refs])
            est = separate_array(model, mix, device=device)
            item = (m.id, mix, est, refs_arr)
            futures.append(ex.submit(_score, item) if ex else item)
        for f in tqdm(futures, desc="metrics", disable=not progress):
            ident, mean, errors = f.result() if ex else _score(f)
            corpus = meta[ident].extra.get("corpus", "")
            rows.append({"id": ident, "corpus": corpus, **mean, "errors": errors})
    finally:
        if ex:
            ex.shutdown()
    if not rows:
        raise ValueError(f"no mixture could be evaluated ({len(failed)} failed)")
    summary = _summarise(rows)
    corpora = sorted({r["corpus"] for r in rows if r["corpus"]})
    if corpora:
        summary["by_corpus"] = {
            c: _summarise([r for r in rows if r["corpus"] == c]) for c in corpora
        }
    summary["missing"] = [
        {"id": r["id"], "metric": k, "reason": v} for r in rows for k, v in r["errors"].items()
    ]
    summary["failed"] = failed
    return summary, rows


def write_rows_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    cols = ["id", "corpus"] + [f"{s}_{m}" for s in ("mixture", "separated") for m in SEP_METRICS]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["errors"])
        for r in rows:
            vals = [r[s][m] for s in ("mixture", "separated") for m in SEP_METRICS]
            w.writerow(
                [r["id"], r["corpus"]]
                + ["" if math.isnan(v) else f"{v:.5f}" for v in vals]
                + ["; ".join(f"{k}: {v}" for k, v in r["errors"].items())]
            )


def format_summary(summary: dict[str, Any]) -> str:
    """A small text table: mixture -> separated means, overall and per corpus."""
    metrics = ("si_sdr", "sdr", "stoi", "pesq")
    lines = [f"{'set':>16} {'n':>4}  " + "  ".join(f"{m:>17}" for m in metrics) + "  SI-SDRi"]

    def line(label: str, s: dict[str, Any]) -> str:
        cells = [f"{s['mixture'][m]:7.3f} -> {s['separated'][m]:7.3f}" for m in metrics]
        ci = s["ci95"]["improvement"]["si_sdr"]
        return f"{label:>16} {s['n']:>4}  " + "  ".join(cells) + f"  {s['si_sdri']:.2f} +- {ci:.2f}"

    for key, s in summary.get("by_corpus", {}).items():
        lines.append(line(key[:16], s))
    lines.append(line("all", summary))
    if summary["failed"]:
        lines.append(f"failed files: {len(summary['failed'])} (see JSON 'failed')")
    if summary["missing"]:
        lines.append(f"missing metric values: {len(summary['missing'])} (see JSON 'missing')")
    return "\n".join(lines)


def talkers_in_best_order(est: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batches of separated talkers est [B, 2, N] and references [B, 2, N] -> both [2B, N],
    each mixture's estimates in their best order, so that row k of one goes with row k of the
    other (how compression's validation scores a separation model one talker at a time)."""
    ordered = np.stack([e[best_permutation(e, r)] for e, r in zip(est, refs)])
    return ordered.reshape(-1, est.shape[-1]), refs.reshape(-1, refs.shape[-1])
