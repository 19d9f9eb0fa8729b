"""Real images that ship offline, cut into patch tokens (book chapter 13, "beyond the paper").

The two photographs of scikit-learn's ``load_sample_images`` (``china.jpg``, ``flower.jpg``, 427 × 640 RGB)
are downscaled by average pooling, converted to grey levels (or kept RGB), and cut into a fixed, seeded
**pool** of square crops with random horizontal flips. Nothing is downloaded at run time.

* :meth:`CropPool.batch` gives the **centre** ``size × size`` part of pool crops as patch tokens (the MAE
  input and the evaluation images);
* :meth:`CropPool.views` gives two independently **augmented** views of the same crops (the CL input):
  a random ``size × size`` sub-crop of the larger pool crop, a random horizontal flip, brightness and contrast
  jitter and Gaussian noise.

Tokens are patches flattened channel-first: ``(n, P, C·p·p)`` with ``P = (size/p)²`` on a row-major grid
(:func:`grid_coords` gives the patch coordinates in patch units, as the attention distance of chapter 6 needs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from sslvit.core.validation import check_int, is_integer, not_allowed

__all__ = ["load_photos", "patchify", "unpatchify", "grid_coords", "CropPool"]



def load_photos(downscale: int = 4, gray: bool = True) -> torch.Tensor:
    """scikit-learn's two sample photographs as ``(2, C, H, W)`` float64 in ``[0, 1]``, ``C = 1`` if ``gray``
    else 3; ``H × W = 427 × 640`` divided (floor) by ``downscale`` (average pooling)."""
    downscale = check_int("downscale", downscale, 1, allowed="a positive integer")
    from sklearn.datasets import load_sample_images  # ships with scikit-learn, no download

    imgs = torch.from_numpy(np.stack(load_sample_images().images)).to(torch.float64).permute(0, 3, 1, 2) / 255.0
    if gray:
        imgs = (imgs * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[:, None, None]).sum(1, keepdim=True)
    return F.avg_pool2d(imgs, downscale) if downscale > 1 else imgs


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``(n, C, S, S)`` → ``(n, (S/p)², C·p·p)``: non-overlapping ``p × p`` patches, row-major, each flattened
    channel-first."""
    if images.dim() != 4:
        raise ValueError(f"images has shape {tuple(images.shape)}: expected (n, C, S, S)")
    n, c, h, w = images.shape
    if not is_integer(patch) or patch < 1 or h % patch or w % patch:
        raise not_allowed("patch", patch, f"a positive integer dividing the image size {h} x {w}")
    t = images.reshape(n, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(n, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(tokens: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify` for square grids: ``(n, P, C·p·p)`` → ``(n, C, S, S)``."""
    n, P, D = tokens.shape
    g = int(round(P ** 0.5))
    if g * g != P or D != channels * patch * patch:
        raise ValueError(f"tokens {tuple(tokens.shape)} do not form a square grid of {channels}x{patch}x{patch} patches")
    t = tokens.reshape(n, g, g, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return t.reshape(n, channels, g * patch, g * patch)


def grid_coords(h: int, w: int) -> torch.Tensor:
    """``(h·w, 2)`` (row, column) coordinates of a row-major ``h × w`` grid, in patch units (float64)."""
    pos = torch.arange(h * w)
    return torch.stack([pos // w, pos % w], 1).to(torch.float64)


@dataclass(frozen=True)
class _Aug:
    brightness: float
    contrast: float
    noise: float


class CropPool:
    """A fixed, seeded pool of crops of the sample photographs, served as patch tokens.

    Parameters
    ----------
    n_crops: crops in the pool.
    size: side of the images the model sees (a multiple of ``patch``).
    patch: patch side ``p``; the grid is ``(size/p) × (size/p)``, ``P = (size/p)²`` tokens of ``C·p²`` numbers.
    margin: pool crops have side ``size + margin``; CL views are random ``size × size`` sub-crops of them.
    downscale, gray: passed to :func:`load_photos`.
    seed: seed of the pool (crop positions, flips).
    brightness, contrast, noise: CL augmentation strengths (additive shift ~ U(±brightness), multiplicative
        factor ~ U(1 ± contrast), Gaussian noise std ``noise``, all in units of the pool's pixel std).

    Pixels are standardised with the pool's mean and standard deviation (per channel).
    """

    def __init__(self, n_crops: int = 2048, size: int = 32, patch: int = 4, margin: int = 8, downscale: int = 4,
                 gray: bool = True, seed: int = 0, brightness: float = 0.4, contrast: float = 0.4,
                 noise: float = 0.1) -> None:
        for name, v in (("n_crops", n_crops), ("size", size), ("patch", patch)):
            v = check_int(name, v, 1, allowed="a positive integer")
        if size % patch:
            raise not_allowed("size", size, f"a multiple of patch={patch}")
        margin = check_int("margin", margin, 0, allowed="an integer >= 0")
        for name, v in (("brightness", brightness), ("contrast", contrast), ("noise", noise)):
            if not (isinstance(v, (int, float)) and 0 <= v):
                raise not_allowed(name, v, "a number >= 0")
        if contrast >= 1:
            raise not_allowed("contrast", contrast, "below 1 (the contrast factor must stay positive)")
        photos = load_photos(downscale, gray)
        crop = size + margin
        _, C, H, W = photos.shape
        if crop > min(H, W):
            raise not_allowed("size", size, f"size + margin must fit in the downscaled photos ({H} x {W})")
        g = torch.Generator().manual_seed(seed)
        which = torch.randint(photos.shape[0], (n_crops,), generator=g)
        top = torch.randint(H - crop + 1, (n_crops,), generator=g)
        left = torch.randint(W - crop + 1, (n_crops,), generator=g)
        flip = torch.rand(n_crops, generator=g) < 0.5
        crops = torch.stack([photos[i, :, t:t + crop, l:l + crop] for i, t, l in zip(which.tolist(), top.tolist(), left.tolist())])
        crops = torch.where(flip[:, None, None, None], crops.flip(-1), crops)
        mean = crops.mean((0, 2, 3), keepdim=True)
        std = crops.std((0, 2, 3), keepdim=True)
        self.crops = ((crops - mean) / std).to(torch.float32)               # (n, C, crop, crop)
        self.size, self.patch, self.margin, self.channels = size, patch, margin, C
        self.grid = (size // patch, size // patch)
        self.aug = _Aug(float(brightness), float(contrast), float(noise))

    @property
    def patches(self) -> int:
        """``P``: tokens per image."""
        return self.grid[0] * self.grid[1]

    @property
    def in_dim(self) -> int:
        """Numbers per token, ``C·p²``."""
        return self.channels * self.patch * self.patch

    @property
    def coords(self) -> torch.Tensor:
        """``(P, 2)`` patch coordinates in patch units."""
        return grid_coords(*self.grid)

    def __len__(self) -> int:
        return self.crops.shape[0]

    def _index(self, g: torch.Generator, n: int) -> torch.Tensor:
        n = check_int("n", n, 1, allowed="a positive integer")
        return torch.randint(len(self), (n,), generator=g)

    def images(self, index: torch.Tensor) -> torch.Tensor:
        """Centre ``size × size`` part of the pool crops ``index``: ``(n, C, size, size)``."""
        m = self.margin // 2
        return self.crops[index, :, m:m + self.size, m:m + self.size]

    def batch(self, g: torch.Generator, n: int) -> torch.Tensor:
        """``n`` pool images (centre crops) drawn with ``g``, as tokens ``(n, P, C·p²)``."""
        return patchify(self.images(self._index(g, n)), self.patch)

    def eval_batch(self, n: int, seed: int = 12345) -> torch.Tensor:
        """A fixed evaluation batch: ``n`` centre crops drawn with ``seed``, tokens ``(n, P, C·p²)``."""
        return self.batch(torch.Generator().manual_seed(seed), n)

    def _augment(self, crops: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = crops.shape[0]
        top = torch.randint(self.margin + 1, (n,), generator=g).tolist()
        left = torch.randint(self.margin + 1, (n,), generator=g).tolist()
        x = torch.stack([c[:, t:t + self.size, l:l + self.size] for c, t, l in zip(crops, top, left)])
        flip = torch.rand(n, generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        a = self.aug
        shift = a.brightness * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
        gain = 1 + a.contrast * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
        mu = x.mean((1, 2, 3), keepdim=True)
        x = (x - mu) * gain + mu + shift
        return x + a.noise * torch.randn(x.shape, generator=g)

    def views(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of the same ``n`` pool crops (drawn with ``g``), each tokens ``(n, P, C·p²)``."""
        crops = self.crops[self._index(g, n)]
        return patchify(self._augment(crops, g), self.patch), patchify(self._augment(crops, g), self.patch)
