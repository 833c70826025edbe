import numpy as np
import pytest
import soundfile as sf

from secomp.audio import AudioError, load_audio, save_audio


def test_reads_flac_and_opus(speech_file, demo_data):
    x = load_audio(speech_file)
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) > 16000
    opus = sorted((demo_data / "speech" / "train").rglob("*.opus"))[0]
    y = load_audio(opus)
    assert y.dtype == np.float32 and np.abs(y).max() > 0.01


def test_resamples_other_rates_with_warning(tmp_path, rng):
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    with pytest.warns(UserWarning, match="resampling 44100"):
        x = load_audio(tmp_path / "a.wav")
    assert abs(len(x) - 16000) <= 1
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 16000 / len(x) - 440) < 2


def test_multichannel_is_error_unless_downmix(tmp_path, rng):
    sf.write(tmp_path / "st.wav", rng.uniform(-0.5, 0.5, (16000, 2)), 16000)
    with pytest.raises(AudioError, match="st.wav.*2 channels"):
        load_audio(tmp_path / "st.wav")
    assert load_audio(tmp_path / "st.wav", downmix=True).shape == (16000,)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: np.zeros(16000), "silent"),
        (lambda: np.full(3000, 0.1), "too short"),
    ],
)
def test_bad_content(tmp_path, make, message):
    sf.write(tmp_path / "bad.wav", make(), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=f"bad.wav.*{message}"):
        load_audio(tmp_path / "bad.wav")


def test_nan_is_error(tmp_path, rng):
    x = rng.uniform(-0.5, 0.5, 16000).astype(np.float32)
    x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav.*NaN"):
        load_audio(tmp_path / "nan.wav")


def test_corrupt_and_truncated(tmp_path, speech_file):
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + b"\x00" * 40 + b"garbage" * 10)
    with pytest.raises(AudioError, match="junk.wav: unreadable"):
        load_audio(tmp_path / "junk.wav")
    data = speech_file.read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[:200])
    with pytest.raises(AudioError, match="cut.flac"):
        load_audio(tmp_path / "cut.flac")
    (tmp_path / "missing.flac").unlink(missing_ok=True)
    with pytest.raises(AudioError, match="missing.flac"):
        load_audio(tmp_path / "missing.flac")


def test_save_never_overwrites_unless_asked(tmp_path, rng):
    x = rng.uniform(-0.5, 0.5, 8000).astype(np.float32)
    p = save_audio(tmp_path / "o.flac", x)
    with pytest.raises(FileExistsError):
        save_audio(p, x)
    save_audio(p, x * 0.5, overwrite=True)
    np.testing.assert_allclose(load_audio(p, check=False), x * 0.5, atol=1 / 32768)
