"""Running a model on audio of any length with bounded memory.

Long inputs are processed in overlapping chunks: each chunk is given `context_s` seconds of the
preceding audio (so recurrent state and receptive fields warm up), and only its new part is kept.
Because every model is causal, the kept part of a chunk equals what a full-length pass would give
once the context is longer than the model's effective memory (measured on the demo CRN: 2 s of
context leaves 5.8% relative RMS difference to a full pass, 10 s leaves 0.17%, so 10 s is the
default); chunks are joined with a short linear cross-fade.

Every input is scaled by one gain to the level the models were trained at
(`audio.REFERENCE_DBFS`) and the output scaled back, so results do not depend on the
recording level. The gain is computed over the whole input, never per chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio import SAMPLE_RATE, level_gain

LOOKAHEAD = 640  # samples: the STFT models see 160-320 samples ahead; TCNN one 320-sample frame


@torch.inference_mode()
def enhance_array(
    model: nn.Module,
    x: np.ndarray,
    chunk_s: float = 60.0,
    context_s: float = 10.0,
    fade_s: float = 0.05,
    device: str | torch.device = "cpu",
    normaliser: str = "file",
) -> np.ndarray:
    """Enhance one mono 16 kHz signal; memory is O(chunk), not O(length).

    The last LOOKAHEAD samples of a chunk were computed without the audio that follows, so the
    next chunk, which starts `context_s` earlier, rewrites them, cross-fading before that.
    `normaliser`: "file" (one gain over the whole signal) or "causal" (secomp.stream's running
    per-hop gain from past samples only, what the streaming engine uses).
    """
    model.eval()
    n = len(x)
    if normaliser == "causal":
        from .stream import causal_gains

        gain = causal_gains(x)  # per sample
    elif normaliser == "file":
        gain = level_gain(float(np.dot(x.astype(np.float64), x)), n)
    else:
        raise ValueError(f"normaliser must be 'file' or 'causal', not {normaliser!r}")
    x = (x * gain).astype(np.float32)
    chunk, ctx, fade = (int(s * SAMPLE_RATE) for s in (chunk_s, context_s, fade_s))
    ctx = max(ctx, LOOKAHEAD + fade)
    if n <= chunk + ctx:
        y = model(torch.from_numpy(x)[None].to(device))[0]
        return (y.cpu().numpy() / gain).astype(np.float32)
    out = np.zeros(n, np.float32)
    start = 0
    while start < n:
        stop = min(n, start + chunk)
        lo = max(0, start - ctx)
        seg = model(torch.from_numpy(x[lo:stop].copy())[None].to(device))[0].cpu().numpy()
        keep = max(0, start - LOOKAHEAD)  # rewrite from here on
        if start > 0:
            f = min(fade, keep - lo)
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            prev = seg[keep - lo - f : keep - lo]
            out[keep - f : keep] = out[keep - f : keep] * (1 - ramp) + prev * ramp
        out[keep:stop] = seg[keep - lo :]
        start = stop
    return out / np.float32(gain)


def _chunks(x_len: int, chunk: int):
    start = 0
    while start < x_len:
        yield start, min(x_len, start + chunk)
        start += chunk


def checked_frames(src: Path, info, downmix: bool) -> int:
    """Frames of a 16 kHz file opened for chunked processing (`info`: its soundfile info),
    after the channel and length checks; AudioError (one line) otherwise."""
    from .audio import MIN_DURATION_S, AudioError

    if info.channels > 1 and not downmix:
        raise AudioError(
            f"{src}: has {info.channels} channels; secomp needs mono (pass --downmix to average)"
        )
    n = info.frames
    if n < MIN_DURATION_S * SAMPLE_RATE:
        raise AudioError(f"{src}: too short ({n / SAMPLE_RATE:.3f} s < {MIN_DURATION_S} s minimum)")
    return n


def file_level_gain(src: Path, n: int, chunk: int) -> float:
    """First pass over a long file, `chunk` samples at a time, before anything is written: the
    NaN and silence checks, and the one gain that brings the file to the models' level."""
    import soundfile as sf

    from .audio import SILENCE_PEAK, AudioError

    energy, peak = 0.0, 0.0
    with sf.SoundFile(str(src)) as fin:
        for start, stop in _chunks(n, chunk):
            block = fin.read(stop - start, dtype="float32", always_2d=True).mean(axis=1)
            if not np.isfinite(block).all():
                raise AudioError(f"{src}: contains NaN or infinite samples")
            energy += float(np.dot(block.astype(np.float64), block))
            peak = max(peak, float(np.abs(block).max(initial=0.0)))
    if peak < SILENCE_PEAK:
        raise AudioError(f"{src}: silent (peak below {SILENCE_PEAK:g})")
    return level_gain(energy, n)


@torch.inference_mode()
def enhance_file(
    model: nn.Module,
    src: str | Path,
    dst: str | Path,
    chunk_s: float = 60.0,
    context_s: float = 10.0,
    fade_s: float = 0.05,
    device: str | torch.device = "cpu",
    downmix: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Enhance a 16 kHz file of any length into `dst` (FLAC/WAV by suffix), reading and writing
    block by block: memory holds one chunk plus its context, whatever the file's length. The
    output equals `enhance_array` on the whole file. Files at other rates are read whole and
    resampled (`load_audio`). The output is written to a temporary name and renamed; a bad
    input (NaN, silent, too short, truncated or undecodable part way) leaves no output behind
    and raises AudioError. `progress` shows a bar over the file's seconds when it takes more
    than one chunk."""
    try:
        return _enhance_file(
            model, src, dst, chunk_s, context_s, fade_s, device, downmix, overwrite, progress
        )
    except RuntimeError as e:  # soundfile's decoder errors part way through a file
        if type(e).__module__.startswith("soundfile"):
            from .audio import AudioError

            raise AudioError(f"{src}: unreadable audio ({type(e).__name__}: {e})") from None
        raise


def _enhance_file(
    model: nn.Module,
    src: str | Path,
    dst: str | Path,
    chunk_s: float,
    context_s: float,
    fade_s: float,
    device: str | torch.device,
    downmix: bool,
    overwrite: bool,
    progress: bool,
) -> Path:
    import soundfile as sf
    from tqdm import tqdm

    from .audio import AudioError, load_audio, save_audio
    from .files import atomic_write

    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst}: exists; refusing to overwrite (use --overwrite)")
    try:
        info = sf.info(str(src))
    except Exception as e:
        raise AudioError(f"{src}: unreadable audio ({type(e).__name__}: {e})") from None
    if info.samplerate != SAMPLE_RATE:
        x = load_audio(src, downmix=downmix)
        return save_audio(
            dst, enhance_array(model, x, chunk_s, context_s, fade_s, device), overwrite
        )
    n = checked_frames(src, info, downmix)
    chunk, ctx, fade = (int(s * SAMPLE_RATE) for s in (chunk_s, context_s, fade_s))
    ctx = max(ctx, LOOKAHEAD + fade)
    if n <= chunk + ctx:
        chunk = n  # one pass, as enhance_array
    gain = file_level_gain(src, n, chunk)
    fmt = "WAV" if dst.suffix.lower() == ".wav" else "FLAC"
    bar = tqdm(
        total=round(n / SAMPLE_RATE), desc=src.name[:30], unit="s", leave=False, position=1,
        disable=not progress or n <= chunk,
        mininterval=0,  # one refresh per chunk (seconds of audio each): cheap, always shown
    )
    with atomic_write(dst) as tmp, bar:
        with (
            sf.SoundFile(str(src)) as fin,
            sf.SoundFile(str(tmp), "w", SAMPLE_RATE, 1, "PCM_16", format=fmt) as fout,
        ):
            history = np.zeros(0, np.float32)  # input: the context before this chunk
            pending = np.zeros(0, np.float32)  # output: samples of the last chunk not final yet
            for start, stop in _chunks(n, chunk):
                block = fin.read(stop - start, dtype="float32", always_2d=True).mean(axis=1)
                x = np.concatenate([history, block * np.float32(gain)])
                lo = start - len(history)
                seg = model(torch.from_numpy(x)[None].to(device))[0].cpu().numpy()
                seg /= np.float32(gain)
                keep = max(0, start - LOOKAHEAD)
                if start > 0:
                    f = min(fade, keep - lo)
                    ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
                    # pending holds output samples [start - len(pending), start)
                    p0 = start - len(pending)
                    done = pending[: keep - f - p0]
                    blend = pending[keep - f - p0 : keep - p0] * (1 - ramp)
                    blend += seg[keep - lo - f : keep - lo] * ramp
                    fout.write(np.clip(np.concatenate([done, blend]), -1, 1))
                out = seg[keep - lo :]
                hold = LOOKAHEAD + fade if stop < n else 0
                fout.write(np.clip(out[: len(out) - hold], -1, 1))
                pending = out[len(out) - hold :]
                history = x[-ctx:]
                bar.update(round(stop / SAMPLE_RATE) - bar.n)
    return dst
