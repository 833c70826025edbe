"""Corpus index, in-memory audio bank, on-the-fly mixtures, and fixed test sets.

Layout (the one of ../shared/data, and of any user corpus):
    ROOT/speech/<split>/<speaker>/<utt>.{wav,flac,opus}
    ROOT/noise/<split>/<name>.{wav,flac}
with optional ROOT/speech.csv and ROOT/noise.csv manifests (columns split, speaker, path / split,
name, path). Training mixtures are made on the fly from an `AudioBank` (all decoded audio in one
tensor, on the training device) so that GPU training is never waiting on file I/O. Every batch is
a pure function of (seed, rank, step): resuming at step s reproduces exactly what an
uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import REFERENCE_DBFS, SAMPLE_RATE, AudioError, list_audio, load_audio, save_audio


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    corpus: str = ""  # e.g. "speechocean762", "librispeech" (manifest column; "" if unknown)


@dataclass
class Corpus:
    """Speech utterances and noise files per split."""

    root: Path
    speech: dict[str, list[Utterance]] = field(default_factory=dict)
    noise: dict[str, list[Path]] = field(default_factory=dict)


def _speech_from_folder(folder: Path) -> list[Utterance]:
    return [Utterance(p, p.parent.name) for p in list_audio(folder)]


def load_corpus(root: str | Path) -> Corpus:
    """Index a corpus root (manifests if present, else the folder layout)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    corpus = Corpus(root)
    speech_csv, noise_csv = root / "speech.csv", root / "noise.csv"
    if speech_csv.exists():
        with open(speech_csv, newline="") as f:
            for row in csv.DictReader(f):
                corpus.speech.setdefault(row["split"], []).append(
                    Utterance(root / row["path"], row["speaker"], row.get("corpus") or "")
                )
    elif (root / "speech").is_dir():
        for split_dir in sorted((root / "speech").iterdir()):
            if split_dir.is_dir():
                corpus.speech[split_dir.name] = _speech_from_folder(split_dir)
    if noise_csv.exists():
        with open(noise_csv, newline="") as f:
            for row in csv.DictReader(f):
                corpus.noise.setdefault(row["split"], []).append(root / row["path"])
    elif (root / "noise").is_dir():
        for split_dir in sorted((root / "noise").iterdir()):
            if split_dir.is_dir():
                corpus.noise[split_dir.name] = list_audio(split_dir)
    if not corpus.speech:
        raise FileNotFoundError(f"{root}: no speech found (expected speech/<split>/<speaker>/)")
    return corpus


# ----------------------------------------------------------------------------- audio bank


def _load_np(path: Path) -> np.ndarray:
    return load_audio(path, check=False)


@dataclass
class AudioBank:
    """Many clips in one contiguous float32 tensor: `audio[offsets[i] : offsets[i] + lengths[i]]`.

    `labels[i]` is an integer speaker (or noise) id; `names` maps ids back to strings.
    """

    audio: torch.Tensor
    offsets: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def to(self, device: torch.device | str) -> AudioBank:
        return AudioBank(self.audio.to(device), self.offsets, self.lengths, self.labels, self.names)

    @property
    def device(self) -> torch.device:
        return self.audio.device


def decode_all(
    paths: list[Path], jobs: int | None = None, progress: bool = False
) -> list[np.ndarray]:
    """Decode files in parallel processes (Opus decoding is CPU-bound)."""
    from tqdm import tqdm

    jobs = jobs or min(32, os.cpu_count() or 1)
    bar = {"total": len(paths), "desc": "decode", "disable": not progress}
    if jobs <= 1 or len(paths) < 16:
        return [_load_np(p) for p in tqdm(paths, **bar)]
    with ProcessPoolExecutor(jobs) as ex:
        return list(tqdm(ex.map(_load_np, paths, chunksize=16), **bar))


def _bank_cache_file(cache_dir: Path, paths: list[Path], labels: list[str]) -> Path:
    """The cache file of one list of files: keyed by their paths, sizes and labels."""
    import hashlib

    h = hashlib.sha256()
    for p, label in zip(paths, labels):
        h.update(f"{p}\0{p.stat().st_size}\0{label}\n".encode())
    return cache_dir / f"bank-{h.hexdigest()[:20]}.safetensors"


def _read_bank(path: Path) -> AudioBank:
    import json

    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        names = json.loads((f.metadata() or {})["names"])
        t = {k: f.get_tensor(k) for k in ("audio", "offsets", "lengths", "labels")}
    return AudioBank(t["audio"], t["offsets"], t["lengths"], t["labels"], names)


def _write_bank(bank: AudioBank, path: Path) -> None:
    import json

    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tensors = {"audio": bank.audio, "offsets": bank.offsets, "lengths": bank.lengths}
    save_file({**tensors, "labels": bank.labels}, str(tmp), {"names": json.dumps(bank.names)})
    os.replace(tmp, path)  # concurrent writers of the same bank write the same bytes


def make_bank(
    paths: list[Path],
    labels: list[str],
    jobs: int | None = None,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> AudioBank:
    """Decode `paths` into one AudioBank. With `cache_dir`, the decoded bank is kept there
    (safetensors, keyed by the file list) so that several trainings on one machine decode the
    corpus once."""
    if not paths:
        raise ValueError("make_bank: no files")
    cache = _bank_cache_file(Path(cache_dir), paths, labels) if cache_dir else None
    if cache is not None and cache.exists():
        return _read_bank(cache)
    bank = _decode_bank(paths, labels, jobs, progress)
    if cache is not None:
        _write_bank(bank, cache)
    return bank


def _decode_bank(
    paths: list[Path], labels: list[str], jobs: int | None, progress: bool
) -> AudioBank:
    clips = decode_all(paths, jobs, progress)
    lengths = torch.tensor([len(c) for c in clips], dtype=torch.long)
    offsets = torch.zeros_like(lengths)
    offsets[1:] = torch.cumsum(lengths, 0)[:-1]
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    return AudioBank(
        torch.from_numpy(np.concatenate(clips)),
        offsets,
        lengths,
        torch.tensor([index[label] for label in labels]),
        names,
    )


def speech_bank(
    corpus: Corpus,
    split: str,
    jobs: int | None = None,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> AudioBank:
    utts = corpus.speech.get(split)
    if not utts:
        raise ValueError(f"{corpus.root}: no speech in split '{split}'")
    paths, speakers = [u.path for u in utts], [u.speaker for u in utts]
    return make_bank(paths, speakers, jobs, progress, cache_dir)


def noise_bank(
    corpus: Corpus, split: str, jobs: int | None = None, cache_dir: str | Path | None = None
) -> AudioBank:
    files = corpus.noise.get(split)
    if not files:
        raise ValueError(f"{corpus.root}: no noise in split '{split}'")
    return make_bank(files, [p.stem for p in files], jobs, cache_dir=cache_dir)


# ----------------------------------------------------------------------------- mixing


@dataclass
class MixConfig:
    """How training mixtures are drawn. Probabilities of the noise sources need not sum to 1."""

    segment_s: float = 4.0
    snr_db: tuple[float, float] = (-5.0, 0.0)
    p_real_noise: float = 0.7
    p_babble: float = 0.15
    p_colored: float = 0.15
    babble_talkers: tuple[int, int] = (3, 6)
    level_dbfs: tuple[float, float] = (REFERENCE_DBFS, REFERENCE_DBFS)  # noisy RMS; see audio
    sep_level_db: tuple[float, float] = (-2.5, 2.5)
    # nearly clean input: this fraction of mixtures takes its SNR from near_clean_snr_db instead
    p_near_clean: float = 0.0
    near_clean_snr_db: tuple[float, float] = (30.0, 50.0)
    # reverberation: this fraction of the speech is convolved with a room impulse response from
    # the bank in `rir_file` (recipes/make_rirs.py); the target is then the early-reverberant
    # speech (direct path + the first `early_ms` ms), so the model dereverberates the late tail
    # only and never has to invent a dry signal the microphone did not hear
    p_reverb: float = 0.0
    rir_file: str = ""
    early_ms: float = 50.0


def step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed that depends on all three numbers (stable across Python runs)."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(2, np.uint64)[0] >> 1)


def _gather(bank: AudioBank, clip: torch.Tensor, start: torch.Tensor, n: int, loop: bool):
    """Segments of `n` samples from clips `clip` [B] at `start` [B] (samples, may be negative).

    Non-looping: outside the clip is zero (short speech is zero-padded). Looping: wraps around.
    """
    dev = bank.device
    length = bank.lengths[clip].to(dev)
    pos = start.to(dev)[:, None] + torch.arange(n, device=dev)[None]
    if loop:
        pos = torch.remainder(pos, length[:, None])
        valid = None
    else:
        valid = (pos >= 0) & (pos < length[:, None])
        pos = pos.clamp(min=0)
        pos = torch.minimum(pos, (length - 1)[:, None])
    seg = bank.audio[bank.offsets[clip].to(dev)[:, None] + pos]
    return seg if valid is None else seg * valid


def _random_starts(g: torch.Generator, lengths: torch.Tensor, n: int) -> torch.Tensor:
    """Start offsets so that a segment of n samples lies inside the clip if it is long enough,
    or the clip lies at a random place inside the segment if it is shorter."""
    u = torch.rand(len(lengths), generator=g)
    span = lengths - n
    return torch.where(span >= 0, (u * (span + 1)).long(), -(u * (-span + 1)).long())


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean(-1, keepdim=True).add(1e-10).sqrt()


def colored_noise(g: torch.Generator, batch: int, n: int) -> torch.Tensor:
    """Gaussian noise with a 1/f^alpha power spectrum, alpha uniform in [0, 2] (white..brown),
    made on the generator's device."""
    dev = g.device
    alpha = torch.rand(batch, 1, generator=g, device=dev) * 2.0
    white = torch.randn(batch, n, generator=g, device=dev)
    spec = torch.fft.rfft(white)
    f = torch.arange(spec.shape[-1], device=dev).clamp(min=1).float()
    spec = spec * f[None].pow(-alpha / 2)
    return torch.fft.irfft(spec, n)


def sample_speech(
    g: torch.Generator, bank: AudioBank, batch: int, n: int, exclude: torch.Tensor | None = None
):
    """Random speech segments [B, n] and their speaker labels; `exclude` forbids a speaker per
    row (rejection sampling, so babble and interferers come from other speakers)."""
    clip = torch.randint(len(bank), (batch,), generator=g)
    if exclude is not None and len(bank.names) > 1:
        for _ in range(100):
            same = bank.labels[clip] == exclude
            if not same.any():
                break
            clip[same] = torch.randint(len(bank), (int(same.sum()),), generator=g)
    start = _random_starts(g, bank.lengths[clip], n)
    return _gather(bank, clip, start, n, loop=False), bank.labels[clip]


def sample_noise(
    g: torch.Generator,
    noise: AudioBank,
    speech: AudioBank,
    speakers: torch.Tensor,
    batch: int,
    n: int,
    cfg: MixConfig,
    g_dev: torch.Generator,
) -> torch.Tensor:
    """Noise segments [B, n], each from one source: real noise (looped), babble from other
    speakers of `speech`, or coloured noise, chosen with the configured probabilities.
    `g` draws the (small) choices on the CPU, `g_dev` the coloured noise on the device."""
    dev = speech.device
    p = torch.tensor([cfg.p_real_noise, cfg.p_babble, cfg.p_colored], dtype=torch.float)
    source = torch.multinomial(p / p.sum(), batch, replacement=True, generator=g)
    clip = torch.randint(len(noise), (batch,), generator=g)
    start = (torch.rand(batch, generator=g) * noise.lengths[clip]).long()
    out = _gather(noise, clip, start, n, loop=True)
    lo, hi = cfg.babble_talkers
    talkers = torch.randint(lo, hi + 1, (batch,), generator=g)
    babble = torch.zeros(batch, n, device=dev)
    for k in range(hi):
        seg, _ = sample_speech(g, speech, batch, n, exclude=speakers)
        babble += seg / _rms(seg) * (k < talkers).to(dev)[:, None]
    colored = colored_noise(g_dev, batch, n)
    source = source.to(dev)[:, None]
    out = torch.where(source == 1, babble, out)
    return torch.where(source == 2, colored, out)


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Scale `noise` so that 10 log10(P_clean / P_noise) = snr_db, per row, and add."""
    gain = _rms(clean) / _rms(noise) * torch.pow(10.0, -snr_db[:, None] / 20.0)
    return clean + gain * noise


def _set_level(g: torch.Generator, noisy: torch.Tensor, targets: list[torch.Tensor], cfg):
    lo, hi = cfg.level_dbfs
    level = (lo + (hi - lo) * torch.rand(noisy.shape[0], 1, generator=g)).to(noisy.device)
    gain = torch.pow(10.0, level / 20.0) / _rms(noisy)
    peak = (noisy * gain).abs().amax(-1, keepdim=True)
    gain = gain * torch.clamp(0.99 / peak, max=1.0)
    return noisy * gain, [t * gain for t in targets]


@dataclass
class RirBank:
    """Room impulse responses [K, L] (16 kHz), each with its direct-path peak at sample `direct`.

    `full` reverberates the input; `early` (the same responses cut `early_ms` after the direct
    path) makes the training target.
    """

    full: torch.Tensor
    direct: int

    def early(self, early_ms: float) -> torch.Tensor:
        cut = self.direct + int(round(early_ms * SAMPLE_RATE / 1000))
        return self.full[:, :cut]

    def to(self, device: torch.device | str) -> RirBank:
        return RirBank(self.full.to(device), self.direct)


def load_rirs(path: str | Path) -> RirBank:
    """Read a RIR bank written by recipes/make_rirs.py (safetensors: `rir` [K, L], metadata
    `direct`)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: RIR bank not found (make it with recipes/make_rirs.py)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            rir = f.get_tensor("rir").float()
        direct = int(meta["direct"])
    except Exception as e:  # a truncated or foreign file: say which, in one line
        raise ValueError(f"{path}: not a RIR bank ({type(e).__name__}: {e})") from None
    if rir.ndim != 2 or not 0 <= direct < rir.shape[1] or not torch.isfinite(rir).all():
        raise ValueError(f"{path}: malformed RIR bank (shape {tuple(rir.shape)}, direct {direct})")
    return RirBank(rir, direct)


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Causal linear convolution y[b, t] = sum_k h[b, k] x[b, t - k], truncated to x's length.

    x: [B, N], h: [B, L] -> [B, N]; computed with one real FFT of size >= N + L - 1.
    """
    n = x.shape[-1]
    nfft = 1 << (n + h.shape[-1] - 2).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, nfft) * torch.fft.rfft(h, nfft), nfft)
    return y[..., :n]


def reverberate(
    g: torch.Generator, clean: torch.Tensor, rirs: RirBank, cfg: MixConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reverberant speech, target) [B, N]: rows drawn with probability cfg.p_reverb get a random
    RIR (input: full response; target: early part), the others stay dry (both = clean)."""
    batch = clean.shape[0]
    pick = torch.rand(batch, generator=g) < cfg.p_reverb
    index = torch.randint(rirs.full.shape[0], (batch,), generator=g)
    if not bool(pick.any()):
        return clean, clean
    rows = pick.nonzero()[:, 0].to(clean.device)
    chosen = index[pick].to(rirs.full.device)
    wet = fft_convolve(clean[rows], rirs.full[chosen])
    early = fft_convolve(clean[rows], rirs.early(cfg.early_ms)[chosen])
    return clean.index_copy(0, rows, wet), clean.index_copy(0, rows, early)


def enhancement_batch(
    speech: AudioBank,
    noise: AudioBank,
    cfg: MixConfig,
    batch: int,
    seed: int,
    rank: int,
    step: int,
    rirs: RirBank | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean), each [B, segment samples], on the bank's device.

    SNR uniform in cfg.snr_db (a cfg.p_near_clean share: in cfg.near_clean_snr_db), measured
    between the (possibly reverberant) speech and the noise; `clean` is the target: the dry
    speech, or for reverberated rows the early-reverberant speech.
    """
    g = torch.Generator().manual_seed(step_seed(seed, rank, step))
    g_dev = torch.Generator(speech.device).manual_seed(step_seed(seed, rank, step) + 1)
    n = int(cfg.segment_s * SAMPLE_RATE)
    clean, speakers = sample_speech(g, speech, batch, n)
    noise_seg = sample_noise(g, noise, speech, speakers, batch, n, cfg, g_dev)
    lo, hi = cfg.snr_db
    snr = lo + (hi - lo) * torch.rand(batch, generator=g)
    if cfg.p_near_clean > 0:
        c_lo, c_hi = cfg.near_clean_snr_db
        near = torch.rand(batch, generator=g) < cfg.p_near_clean
        snr = torch.where(near, c_lo + (c_hi - c_lo) * torch.rand(batch, generator=g), snr)
    speech_in, target = clean, clean
    if cfg.p_reverb > 0:
        if rirs is None:
            raise ValueError("mix.p_reverb > 0 needs a RIR bank (mix.rir_file)")
        speech_in, target = reverberate(g, clean, rirs, cfg)
    noisy = mix_at_snr(speech_in, noise_seg, snr.to(speech.device))
    noisy, (target,) = _set_level(g, noisy, [target], cfg)
    return noisy, target


def separation_batch(
    speech: AudioBank,
    cfg: MixConfig,
    batch: int,
    seed: int,
    rank: int,
    step: int,
    noise: AudioBank | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-speaker mixtures: (mixture [B, n], sources [B, 2, n]); the second speaker differs
    from the first and its level relative to it is uniform in cfg.sep_level_db. With `noise`,
    noise drawn as for enhancement (cfg.p_*) is added at cfg.snr_db relative to the two talkers
    together; the sources stay clean."""
    g = torch.Generator().manual_seed(step_seed(seed, rank, step))
    n = int(cfg.segment_s * SAMPLE_RATE)
    s1, spk1 = sample_speech(g, speech, batch, n)
    s2, _ = sample_speech(g, speech, batch, n, exclude=spk1)
    lo, hi = cfg.sep_level_db
    rel = (lo + (hi - lo) * torch.rand(batch, generator=g)).to(speech.device)
    s2 = s2 / _rms(s2) * _rms(s1) * torch.pow(10.0, rel[:, None] / 20.0)
    mix = s1 + s2
    if noise is not None:
        g_dev = torch.Generator(speech.device).manual_seed(step_seed(seed, rank, step) + 1)
        noise_seg = sample_noise(g, noise, speech, spk1, batch, n, cfg, g_dev)
        lo, hi = cfg.snr_db
        snr = (lo + (hi - lo) * torch.rand(batch, generator=g)).to(speech.device)
        mix = mix_at_snr(mix, noise_seg, snr)
    mix, (s1, s2) = _set_level(g, mix, [s1, s2], cfg)
    return mix, torch.stack([s1, s2], 1)


# ----------------------------------------------------------------------------- test sets


def babble_noise(rng: np.random.Generator, utts: list[np.ndarray], n: int, talkers: int = 4):
    """Multi-talker babble of n samples: `talkers` utterances at equal RMS, each looped."""
    out = np.zeros(n, np.float32)
    for i in rng.choice(len(utts), size=min(talkers, len(utts)), replace=False):
        u = utts[i]
        seg = np.resize(np.roll(u, -int(rng.integers(len(u)))), n)
        out += seg / (np.sqrt(np.mean(seg**2)) + 1e-8)
    return out


def make_testset(
    speech_dir: str | Path,
    noise_dir: str | Path,
    out_dir: str | Path,
    snrs: list[float],
    n: int,
    seed: int = 0,
    babble_dir: str | Path | None = None,
    progress: bool = True,
    corpus_share: dict[str, float] | None = None,
    babble_share: float | None = None,
) -> Path:
    """Write n noisy/clean FLAC pairs and manifest.csv; SNRs cycle so each gets n/len(snrs).

    Whole utterances are used; each noise segment starts at a random place and is looped if
    short. The same arguments give the same bytes. The manifest's `corpus` column comes from the
    speech.csv of the corpus root above `speech_dir` (ROOT/speech/<split>), "" without one.

    corpus_share: e.g. {"speechocean762": 0.7, "librispeech_train-clean-5": 0.3}: within every
    SNR, a fixed number of mixtures (rounded share of n/len(snrs)) comes from each corpus, and
    each corpus's utterances are used in a shuffled order without repeats until all were used.
    None: utterances are drawn at random from the whole folder.
    babble_share: the fraction of mixtures (per SNR, like corpus_share) whose noise is babble;
    None: babble is one more noise name drawn uniformly with the files.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    utts = _speech_with_corpus(Path(speech_dir))
    noises = list_audio(noise_dir)
    if not utts:
        raise FileNotFoundError(f"{speech_dir}: no speech files")
    if not noises:
        raise FileNotFoundError(f"{noise_dir}: no noise files")
    if babble_share is not None and (babble_dir is None or not 0.0 <= babble_share <= 1.0):
        raise ValueError("babble share needs a babble folder and a value in [0, 1]")
    per_snr = -(-n // len(snrs))
    corpus_of_rank = _ranks_by_share(utts, corpus_share, per_snr) if corpus_share else None
    out_dir.mkdir(parents=True, exist_ok=True)
    noise_paths = {p.stem: p for p in noises}
    noise_audio: dict[str, np.ndarray] = {}  # decoded on first use: a few of 2000+ files
    babble_utts = None
    if babble_dir is not None:
        babble_utts = [load_audio(p, check=False) for p in list_audio(babble_dir)]
    babble_drawn = babble_dir is not None and babble_share is None  # one name among the files
    names = sorted([*noise_paths, "babble"] if babble_drawn else noise_paths)
    by_corpus = {c: [u for u in utts if u.corpus == c] for c in (corpus_share or {})}
    order = {c: list(rng.permutation(len(us))) for c, us in by_corpus.items()}
    used = dict.fromkeys(by_corpus, 0)
    n_babble = round(babble_share * per_snr) if babble_share is not None else 0
    rows = []
    for i in tqdm(range(n), desc="make-testset", disable=not progress):
        rank = i // len(snrs)  # position of this mixture among those of its SNR
        if corpus_of_rank is None:
            utt = utts[int(rng.integers(len(utts)))]
        else:
            c = corpus_of_rank[rank]
            if used[c] == len(order[c]):  # every utterance used once: a new shuffled round
                order[c] += list(rng.permutation(len(by_corpus[c])))
            utt = by_corpus[c][order[c][used[c]]]
            used[c] += 1
        clean = load_audio(utt.path)
        if babble_share is None:
            name = names[int(rng.integers(len(names)))]
        else:
            # babble mixtures interleaved across ranks so both corpora get a share of them
            is_babble = (rank * n_babble) // per_snr != ((rank + 1) * n_babble) // per_snr
            name = "babble" if is_babble else names[int(rng.integers(len(names)))]
        snr = float(snrs[i % len(snrs)])
        if name == "babble":
            noise = babble_noise(rng, babble_utts, len(clean))
        else:
            if name not in noise_audio:
                noise_audio[name] = load_audio(noise_paths[name], check=False)
            src = noise_audio[name]
            noise = np.resize(np.roll(src, -int(rng.integers(len(src)))), len(clean))
        c, nz = torch.from_numpy(clean)[None], torch.from_numpy(noise)[None]
        noisy = mix_at_snr(c, nz, torch.tensor([snr]))[0].numpy()
        scale = min(1.0, 0.99 / float(np.max(np.abs(noisy))))
        ident = f"{i:05d}"
        save_audio(out_dir / f"{ident}_noisy.flac", noisy * scale, overwrite=True)
        save_audio(out_dir / f"{ident}_clean.flac", clean * scale, overwrite=True)
        rows.append(
            [ident, f"{ident}_noisy.flac", f"{ident}_clean.flac", utt.speaker, name, snr]
            + [utt.corpus]
        )
    manifest = out_dir / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "noisy", "clean", "speaker", "noise", "snr_db", "corpus"])
        w.writerows(rows)
    return manifest


def _speech_with_corpus(speech_dir: Path) -> list[Utterance]:
    """Utterances below speech_dir, with their corpus from ROOT/speech.csv when speech_dir is
    ROOT/speech/<split> (or a folder inside it) and the manifest lists them."""
    utts = _speech_from_folder(speech_dir)
    for folder in speech_dir.resolve().parents:
        root = folder.parent
        if folder.name == "speech" and (root / "speech.csv").exists():
            with open(root / "speech.csv", newline="") as f:
                rows = csv.DictReader(f)
                corpus = {(root / r["path"]).resolve(): r.get("corpus") or "" for r in rows}
            return [Utterance(u.path, u.speaker, corpus.get(u.path.resolve(), "")) for u in utts]
    return utts


def _ranks_by_share(utts: list[Utterance], share: dict[str, float], per_snr: int) -> list[str]:
    """The corpus of each rank 0..per_snr-1 within an SNR: round(share * per_snr) ranks each
    (the largest share takes the rounding remainder), interleaved so that truncating n keeps
    the proportions."""
    present = {u.corpus for u in utts}
    missing = [c for c in share if c not in present]
    if missing or any(v <= 0 for v in share.values()):
        raise ValueError(
            f"corpus share: unknown corpus or share <= 0 ({', '.join(missing) or 'share <= 0'});"
            f" corpora here: {', '.join(sorted(present)) or 'none (no speech.csv)'}"
        )
    total = sum(share.values())
    counts = {c: round(v / total * per_snr) for c, v in share.items()}
    largest = max(share, key=lambda c: share[c])
    counts[largest] += per_snr - sum(counts.values())
    # interleave: rank r goes to the corpus whose quota is least filled so far
    filled = dict.fromkeys(counts, 0)
    ranks = []
    for _ in range(per_snr):
        c = min(counts, key=lambda k: (filled[k] / counts[k] if counts[k] else 2.0, k))
        filled[c] += 1
        ranks.append(c)
    return ranks


@dataclass(frozen=True)
class Pair:
    id: str
    noisy: Path
    clean: Path | None
    snr_db: float | None
    extra: dict


def read_pairs(source: str | Path) -> list[Pair]:
    """Pairs from a manifest.csv (columns noisy, clean; paths relative to it) or a folder of
    `<id>_noisy.*` / `<id>_clean.*` files (uses its manifest.csv if it has one)."""
    source = Path(source)
    if source.is_dir():
        if (source / "manifest.csv").exists():
            return read_pairs(source / "manifest.csv")
        pairs = []
        for p in list_audio(source):
            stem = p.stem
            if stem.endswith("_noisy"):
                ident = stem[: -len("_noisy")]
                clean = [q for q in p.parent.glob(ident + "_clean.*")]
                pairs.append(Pair(ident, p, clean[0] if clean else None, None, {}))
        if not pairs:
            raise AudioError(f"{source}: no <id>_noisy.* files and no manifest.csv")
        return pairs
    if not source.exists():
        raise FileNotFoundError(f"{source}: not found")
    with open(source, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "noisy" not in reader.fieldnames:
            raise ValueError(f"{source}: manifest needs a 'noisy' column (and 'clean')")
        pairs = []
        for k, row in enumerate(reader):
            snr = row.get("snr_db")
            pairs.append(
                Pair(
                    row.get("id") or str(k),
                    source.parent / row["noisy"],
                    source.parent / row["clean"] if row.get("clean") else None,
                    float(snr) if snr not in (None, "") else None,
                    {k2: v for k2, v in row.items() if k2 not in ("id", "noisy", "clean")},
                )
            )
    return pairs
