import torch

from secomp.stft import N_BINS, istft, n_frames, stft


def test_shape_and_reconstruction():
    x = torch.randn(3, 16000 * 2 + 77) * 0.1
    spec = stft(x)
    assert spec.shape == (3, n_frames(x.shape[-1]), N_BINS) and N_BINS == 161
    y = istft(spec, x.shape[-1])
    assert (y - x).abs().max() < 1e-5


def test_frames_are_causal_up_to_one_hop():
    x = torch.randn(1, 8000)
    y = x.clone()
    y[:, 4000:] += 1.0
    a, b = stft(x), stft(y)
    # frame t covers samples [160 t - 160, 160 t + 160): frames with 160 t + 160 <= 4000 match
    t_ok = (4000 - 160) // 160
    assert torch.allclose(a[:, : t_ok + 1], b[:, : t_ok + 1])
    assert not torch.allclose(a[:, t_ok + 1], b[:, t_ok + 1])
