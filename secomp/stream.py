"""Streaming inference: blocks of samples in, blocks of samples out, for every zoo model and
its slimmed/compressed forms.

    streamer = Streamer(model)
    for block in microphone:          # any sizes, down to one 10 ms hop (160 samples) or less
        speaker.write(streamer.process(block))
    speaker.write(streamer.flush())   # the last DELAY samples

The output is the offline causal path (`offline_causal`: the whole signal through the model
after the same causal level normaliser) delayed by DELAY = 320 samples (20 ms, the STFT window
/ TCNN frame; no model looks ahead of its frame): process() returns as many samples as it is
given, the first DELAY of the stream being zeros, and flush() completes the last frames the way
the offline front end pads the end. Memory is constant: at most one frame of input, one hop of
overlap-add, the model's state (`stream_step`, models/causal.py) and one block of output.

Per frame: the frame t of samples [160 t - 160, 160 t + 160) is computed once its last sample has
arrived; output hop t (samples 160 t .. 160 t + 160) is the overlap-add of frames t and t + 1
(spectral models: inverse FFT, Hamming synthesis window, divided by the window-square envelope
as torch.istft; TCNN: the mean of the two frames, as `tcnn.overlap_add`).

`CausalLevel` replaces the per-file level gain of `secomp.enhance` for live use: the gain of each
hop is computed from the samples before it only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio import REFERENCE_DBFS, SAMPLE_RATE
from .models.base import ComplexModel, MagnitudeModel, TimeModel
from .stft import HOP, N_FFT, WIN

DELAY = WIN  # samples between a sample going in and the same instant coming out


class CausalLevel:
    """A running level normaliser that uses only the past: every sample of hop k (samples
    160 k .. 160 k + 160) gets the gain that brings the power estimate after hops 0 .. k - 1 to
    REFERENCE_DBFS RMS. The estimate is an exponential moving average of the hops' mean squares
    (time constant `time_constant_s`), normalised by the sum of its weights so that it is a
    proper average from the first hop on; the first hop gets gain 1. Gains are clipped to
    +-`max_gain_db` so silence is not amplified without bound.

    The gains depend only on the samples, not on how they are split into blocks (each hop's
    energy is computed once its 160 samples are in), so the streamer and the offline path
    (`gains` on the whole signal) use identical gains."""

    def __init__(self, time_constant_s: float = 3.0, max_gain_db: float = 40.0):
        if time_constant_s <= 0 or max_gain_db <= 0:
            raise ValueError("time_constant_s and max_gain_db must be positive")
        self.alpha = math.exp(-HOP / (time_constant_s * SAMPLE_RATE))
        self.max_gain = 10.0 ** (max_gain_db / 20.0)
        self.reset()

    def reset(self) -> None:
        self._power = 0.0  # weighted sum of past hop mean squares
        self._weight = 0.0  # sum of the weights
        self._gain = 1.0
        self._partial = np.zeros(0, np.float32)  # samples of the current, unfinished hop

    def gains(self, block: np.ndarray) -> np.ndarray:
        """Per-sample gains [len(block)] float32 for the next samples of the stream."""
        out = np.empty(len(block), np.float32)
        i = 0
        while i < len(block):
            take = block[i : i + HOP - len(self._partial)]
            out[i : i + len(take)] = self._gain
            self._partial = np.concatenate([self._partial, take])
            i += len(take)
            if len(self._partial) == HOP:
                hop = self._partial.astype(np.float64)
                self._power = self.alpha * self._power + (1 - self.alpha) * float(hop @ hop) / HOP
                self._weight = self.alpha * self._weight + (1 - self.alpha)
                rms = math.sqrt(max(self._power / self._weight, 1e-30))
                gain = 10.0 ** (REFERENCE_DBFS / 20.0) / rms
                self._gain = min(max(gain, 1.0 / self.max_gain), self.max_gain)
                self._partial = np.zeros(0, np.float32)
        return out


def causal_gains(x: np.ndarray, level: CausalLevel | None = None) -> np.ndarray:
    """The per-sample gains [N] of `CausalLevel` (default settings) over a whole signal [N]."""
    return (level or CausalLevel()).gains(np.asarray(x, np.float32))


@torch.inference_mode()
def offline_causal(model: nn.Module, x: np.ndarray, level: CausalLevel | None = None) -> np.ndarray:
    """The reference the streamer reproduces: x [N] scaled by the causal gains, the model's
    whole-signal forward, scaled back per sample -> [N] float32."""
    x = np.asarray(x, np.float32)
    g = causal_gains(x, level)
    y = model.eval()(torch.from_numpy(x * g)[None])[0].numpy()
    return (y / g).astype(np.float32)


class OnnxStep:
    """A streaming ONNX graph (`export_onnx_streaming`) in onnxruntime, called like
    `model.stream_step`: (frames, state or None) -> (output, state), torch tensors in and out.
    `threads`: onnxruntime's intra-op threads (1: one core, as on a device)."""

    def __init__(self, path: str | Path, model: nn.Module, threads: int = 1):
        import onnxruntime as ort

        from .io.onnx import stream_example
        from .models.causal import initial_state

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._zero = {k: v.numpy() for k, v in initial_state(model, stream_example(model)).items()}
        inputs = {i.name for i in self.session.get_inputs()}
        if inputs != {"input", *self._zero}:
            raise ValueError(
                f"{path}: not the streaming export of this model (its state inputs differ)"
            )
        self._outputs = ["output", *(f"{k}_out" for k in self._zero)]

    @classmethod
    def export(
        cls, model: nn.Module, path: str | Path, int8: bool = False, threads: int = 1
    ) -> OnnxStep:
        """Export `model`'s streaming graph to `path` (float, or dynamic int8) and load it."""
        from .io.onnx import export_onnx_streaming

        return cls(export_onnx_streaming(model, path, int8=int8), model, threads)

    def __call__(self, frames: torch.Tensor, state: dict | None):
        feed = {"input": frames.float().numpy(), **(state or self._zero)}
        y, *new = self.session.run(self._outputs, feed)
        return torch.from_numpy(y), dict(zip(self._zero, new))


class Streamer:
    """Runs `model` (LSTM, CRN, GCRN, TCNN or a slimmed form: anything with `stream_step`)
    block by block on a mono 16 kHz stream; see the module docstring. `normalise`: apply
    `CausalLevel` (as `offline_causal`); False feeds the samples as they are (as `model(x)`).
    `step`: run the network through this instead of `model.stream_step` (an `OnnxStep` of the
    model's streaming export); `model` still gives the signal domain and the zero state."""

    def __init__(
        self,
        model: nn.Module,
        normalise: bool = True,
        level: CausalLevel | None = None,
        step: OnnxStep | None = None,
    ):
        if not hasattr(model, "stream_step"):
            raise TypeError(f"{type(model).__name__}: cannot stream (no stream_step)")
        if isinstance(model, MagnitudeModel):
            self.domain = "magnitude"
        elif isinstance(model, ComplexModel):
            self.domain = "complex"
        elif isinstance(model, TimeModel):
            self.domain = "time"
        else:
            raise TypeError(f"{type(model).__name__}: not a Magnitude/Complex/TimeModel")
        self.model = model.eval()
        # the network step: the model's own, or the same network exported (OnnxStep)
        self._step = step or self.model.stream_step
        self.level = (level or CausalLevel()) if normalise else None
        w = torch.hamming_window(WIN, periodic=True, dtype=torch.float32)
        self._window = w
        self._w2 = w * w
        self._envelope = self._w2[:HOP] + self._w2[HOP:]  # two frames cover each output sample
        self.reset()

    def reset(self) -> None:
        """Start a new stream (zero state, empty buffers, fresh normaliser)."""
        if self.level is not None:
            self.level.reset()
        self._state = None
        self._n_in = 0
        self._frames = 0
        # input from the start of the next frame: frame 0 starts 160 samples before sample 0
        self._x = torch.zeros(HOP)
        self._gains = np.zeros(0, np.float32)  # gains of the samples whose output is not out
        self._ola: torch.Tensor | None = None  # second half of the last frame [160]
        self._fifo = np.zeros(DELAY, np.float32)  # output not yet returned
        self._n_out = 0  # output samples made (before the delay)

    def buffered_samples(self) -> int:
        """Samples held in the streamer's buffers (constant over a stream: bounded memory)."""
        return len(self._x) + len(self._gains) + len(self._fifo)

    @torch.inference_mode()
    def process(self, block: np.ndarray) -> np.ndarray:
        """The next samples of the input stream [n] (float, any n >= 0) -> the next n samples
        of the output stream (float32)."""
        block = np.asarray(block, np.float32).reshape(-1)
        if not np.isfinite(block).all():
            raise ValueError("streamed block contains NaN or infinite samples")
        g = self.level.gains(block) if self.level else np.ones(len(block), np.float32)
        self._n_in += len(block)
        self._gains = np.concatenate([self._gains, g])
        self._x = torch.cat([self._x, torch.from_numpy(block * g)])
        k = (len(self._x) - HOP) // HOP  # complete frames now available
        if k > 0:
            self._run(self._x[: HOP * (k + 1)], k)
            self._x = self._x[HOP * k :]
        out, self._fifo = self._fifo[: len(block)], self._fifo[len(block) :]
        return out

    @torch.inference_mode()
    def flush(self) -> np.ndarray:
        """End of stream: the last DELAY output samples [320]. The final frames are computed on
        the input padded with zeros, as the offline front end does, so the whole output equals
        `offline_causal` (or `model(x)`), delayed by DELAY. Call `reset` to start again."""
        n = self._n_in
        if self.domain == "time":
            total = -(-n // HOP) + 1  # tcnn.frames_of
        else:
            total = n // HOP + 1  # secomp.stft.n_frames
        k = total - self._frames
        pad = HOP * (k + 1) - len(self._x)
        self._gains = np.concatenate([self._gains, np.ones(HOP * (k + 1), np.float32)])
        self._run(torch.cat([self._x, torch.zeros(pad)]), k)
        if self.domain != "time" and self._ola is not None:
            # the last samples lie under the last frame only: torch.istft's envelope there
            tail = n - self._n_out
            self._emit(self._ola[:tail] / self._w2[HOP : HOP + tail])
        out = self._fifo[: len(self._fifo) - (self._n_out - n)]
        self._fifo = np.zeros(0, np.float32)
        return out

    def _run(self, x: torch.Tensor, k: int) -> None:
        """Frames 0..k-1 of x [160 (k + 1)] (the next k frames) through the model and the
        overlap-add; emits the output hops they complete."""
        if self.domain == "time":
            halves = x.reshape(k + 1, HOP)
            frames = torch.cat([halves[:-1], halves[1:]], -1)[None]
            out, self._state = self._step(frames, self._state)
            out = out[0].float() * 0.5
            first, second, envelope = out[:, :HOP], out[:, HOP:], None
        else:
            spec = torch.stft(
                x[None], N_FFT, HOP, WIN, window=self._window, center=False, return_complex=True
            ).transpose(1, 2)
            if self.domain == "magnitude":
                mag, self._state = self._step(spec.abs(), self._state)
                est = torch.polar(mag.float(), spec.angle())
            else:
                ri = torch.stack([spec.real, spec.imag], 1)
                ri, self._state = self._step(ri, self._state)
                est = torch.complex(ri[:, 0].float(), ri[:, 1].float())
            out = torch.fft.irfft(est[0], n=N_FFT) * self._window
            first, second, envelope = out[:, :HOP], out[:, HOP:], self._envelope
        prev = second[:-1]
        if self._ola is not None:
            prev = torch.cat([self._ola[None], prev])
        else:
            first = first[1:]  # frame 0's first half lies before sample 0
        hops = prev + first
        if envelope is not None:
            hops = hops / envelope
        self._ola = second[-1]
        self._frames += k
        if len(hops):
            self._emit(hops.reshape(-1))

    def _emit(self, y: torch.Tensor) -> None:
        n = len(y)
        y = y.numpy() / self._gains[:n]
        self._gains = self._gains[n:]
        self._fifo = np.concatenate([self._fifo, y.astype(np.float32)])
        self._n_out += n


def stream_array(
    model: nn.Module,
    x: np.ndarray,
    block: int = HOP,
    normalise: bool = True,
    step: OnnxStep | None = None,
):
    """Stream x [N] through `model` (or its network `step`, see Streamer) in blocks of `block`
    samples; returns the output aligned with the input ([N], the DELAY removed), equal to
    `offline_causal` to float precision."""
    s = Streamer(model, normalise, step=step)
    x = np.asarray(x, np.float32)
    parts = [s.process(x[i : i + block]) for i in range(0, len(x), block)]
    parts.append(s.flush())
    return np.concatenate(parts)[DELAY:]


def step_snr_db(model: nn.Module, step: OnnxStep, x: np.ndarray) -> float:
    """SNR (dB) of x [N] streamed with the network `step` against the model's own streamer:
    how close an exported (e.g. int8) graph computes what the model does."""
    ref = stream_array(model, x)
    err = np.sum((stream_array(model, x, step=step) - ref) ** 2)
    return float(10 * np.log10(np.sum(ref**2) / max(err, 1e-30)))


def stream_file(
    model: nn.Module,
    src: str | Path,
    dst: str | Path,
    block: int = HOP,
    downmix: bool = False,
    overwrite: bool = False,
) -> Path:
    """Enhance a 16 kHz file through a `Streamer`, reading and writing `block` samples at a
    time: memory does not grow with the file's length. The output (aligned with the input, the
    streaming delay removed) is written to a temporary name and renamed."""
    import soundfile as sf

    from .audio import MIN_DURATION_S, AudioError

    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst}: exists; refusing to overwrite (use --overwrite)")
    if block < 1:
        raise ValueError(f"block must be at least one sample, got {block}")
    try:
        info = sf.info(str(src))
    except Exception as e:
        raise AudioError(f"{src}: unreadable audio ({type(e).__name__}: {e})") from None
    if info.samplerate != SAMPLE_RATE:
        raise AudioError(
            f"{src}: {info.samplerate} Hz; streaming needs {SAMPLE_RATE} Hz input "
            "(resample it, or enhance without --stream)"
        )
    if info.channels > 1 and not downmix:
        raise AudioError(
            f"{src}: has {info.channels} channels; secomp needs mono (pass --downmix to average)"
        )
    if info.frames < MIN_DURATION_S * SAMPLE_RATE:
        raise AudioError(f"{src}: too short ({info.frames / SAMPLE_RATE:.3f} s)")
    streamer = Streamer(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    fmt = "WAV" if dst.suffix.lower() == ".wav" else "FLAC"
    skip = DELAY  # the stream's leading zeros
    try:
        with (
            sf.SoundFile(str(src)) as fin,
            sf.SoundFile(str(tmp), "w", SAMPLE_RATE, 1, "PCM_16", format=fmt) as fout,
        ):
            for raw in fin.blocks(block, dtype="float32", always_2d=True):
                try:
                    y = streamer.process(raw.mean(axis=1))
                except ValueError:
                    raise AudioError(f"{src}: contains NaN or infinite samples") from None
                drop = min(skip, len(y))
                skip -= drop
                fout.write(np.clip(y[drop:], -1, 1))
            fout.write(np.clip(streamer.flush()[skip:], -1, 1))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dst)
    return dst


def measure_latency(
    model: nn.Module,
    seconds: float = 60.0,
    block: int = HOP,
    warmup_s: float = 1.0,
    seed: int = 0,
    step: OnnxStep | None = None,
) -> dict[str, float]:
    """Wall-clock compute of `Streamer.process` per block over `seconds` of audio (Gaussian
    noise at about -25 dBFS; dense models take the same time whatever the values), after
    `warmup_s` of untimed blocks. Runs on the calling thread with torch's current thread count.
    Returns milliseconds: median, p99, worst, mean (wall clock) and median, p99, worst of the
    thread's CPU time (leaves out time the thread waited for a core on a loaded machine), and
    the block length itself. `step`: the network through this (see Streamer)."""
    import time

    rng = np.random.default_rng(seed)
    n_warm = int(warmup_s * SAMPLE_RATE) // block
    n = max(1, int(seconds * SAMPLE_RATE) // block)
    x = (rng.standard_normal((n_warm + n) * block) * 0.056).astype(np.float32)
    s = Streamer(model, step=step)
    times, cpu = np.empty(n), np.empty(n)
    for i in range(n_warm + n):
        chunk = x[i * block : (i + 1) * block]
        t0, c0 = time.perf_counter(), time.thread_time()
        s.process(chunk)
        if i >= n_warm:
            times[i - n_warm] = time.perf_counter() - t0
            cpu[i - n_warm] = time.thread_time() - c0
    return {"block_ms": block / SAMPLE_RATE * 1e3, "blocks": n, **block_time_summary(times, cpu)}


def block_time_summary(wall_s: np.ndarray, cpu_s: np.ndarray) -> dict[str, float]:
    """Per-block times in seconds (wall clock, thread CPU) -> milliseconds: median, p99, worst
    and mean of the wall clock; median, p99 and worst of the CPU time."""
    ms, cpu_ms = wall_s * 1e3, cpu_s * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "worst_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "cpu_median_ms": float(np.median(cpu_ms)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "cpu_worst_ms": float(cpu_ms.max()),
    }


def algorithmic_latency_ms() -> float:
    """Window + lookahead: every zoo model (and its slimmed forms) needs the whole 20 ms frame
    that ends with a sample and nothing after it, so the stream's delay is DELAY samples."""
    return DELAY / SAMPLE_RATE * 1e3
