"""Annealed Langevin with the images example's schedule (50 levels σ = 1 … 0.01, 20 steps per
level, αᵢ = 2·10⁻⁵·σᵢ²/σ_L², chains from a Gaussian with the data's per-pixel mean and standard
deviation, one denoising step at the end), driven by the exact score of the noised training set
(the 1,797 digits upsampled to 28×28) instead of a learned energy.

If the sampler and its schedule are right, every chain ends on a training image: that is what the
score of the empirical distribution makes it do. Writes exact_score_samples.png to the current
directory.
Run: python3 bench/images_exact_score.py  (needs torch and numpy; about 20 s on two cores)
"""
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
raw = np.fromfile(os.path.join(HERE, '..', 'crates', 'ebm-data', 'data', 'digits.bin'), dtype=np.uint8).reshape(-1, 65)
x8 = torch.tensor(raw[:, :64] / 16.0, dtype=torch.float64).reshape(-1, 1, 8, 8)
data = F.interpolate(x8, size=(28, 28), mode='bilinear', align_corners=True).reshape(-1, 784) * 2 - 1
L, smax, smin, T, eps = 50, 1.0, 0.01, 20, 2e-5
sig = np.geomspace(smax, smin, L)
g = torch.Generator().manual_seed(0)
mean, std = data.mean(0), data.std(0)
x = (torch.randn(64, 784, generator=g, dtype=torch.float64) * std + mean).clamp(-1, 1)
def score(x, s):
    d2 = torch.cdist(x, data) ** 2
    w = torch.softmax(-d2 / (2 * s * s), dim=1)
    return (w @ data - x) / (s * s)
for s in sig:
    a = eps * (s / smin) ** 2
    for _ in range(T):
        x = x + 0.5 * a * score(x, s) + np.sqrt(a) * torch.randn(x.shape, generator=g, dtype=torch.float64)
x = x + smin ** 2 * score(x, smin)
near = torch.cdist(x, data).min(1).values
print('distance to nearest training image: median %.3f, max %.3f (data pair median %.3f)' % (near.median(), near.max(), torch.cdist(data[:200], data[200:400]).median()))
img = ((x.clamp(-1, 1) + 1) / 2).reshape(8, 8, 28, 28).permute(0, 2, 1, 3).reshape(224, 224).numpy().repeat(3, 0).repeat(3, 1)
def png(path, a):
    a = (a * 255).astype(np.uint8)
    rows = b''.join(b'\x00' + r.tobytes() for r in a)
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', a.shape[1], a.shape[0], 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
png('exact_score_samples.png', img)
