"""UDP heatmap codec (gaussian) with DARK-UDP decoding, matching mmpose 1.3.2's ``UDPHeatmap``.

Encoding is vectorised over instances and keypoints (a separable Gaussian window per keypoint, no loop
over pixels); decoding runs in numpy or in torch on any device (the trainer decodes on the GPU).

One deliberate difference: mmpose decodes a channel whose maximum is ≤ 0 (e.g. an all-zero channel) to
NaN; here it decodes to the finite point ``(-w/(W-1), -h/(H-1))`` (mmpose's "not found" location -1 in
heatmap pixels, mapped to the input) with its score, the channel maximum (0 for an all-zero channel).
"""

from __future__ import annotations

import numpy as np
import torch


def _gaussian_kernel_1d(ksize: int) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, 0)`` for ``ksize > 7``: σ = 0.3·((ksize-1)/2 - 1) + 0.8, normalised."""
    sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


class UDPHeatmap:
    """Encode keypoints to UDP Gaussian heatmaps and decode them back.

    Args:
        input_size: ``(w, h)`` of the model input crop, pixels.
        heatmap_size: ``(W, H)`` of the heatmaps.
        sigma: Gaussian σ in heatmap pixels.
        blur_kernel_size: DARK-UDP blur kernel (odd, > 7 as mmpose's default 11).
    """

    def __init__(
        self,
        input_size: tuple[int, int] = (192, 256),
        heatmap_size: tuple[int, int] = (48, 64),
        sigma: float = 2.0,
        blur_kernel_size: int = 11,
    ) -> None:
        if blur_kernel_size % 2 == 0 or blur_kernel_size <= 7:
            raise ValueError(f"blur_kernel_size must be odd and > 7, got {blur_kernel_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.blur_kernel_size = int(blur_kernel_size)
        w, h = self.input_size
        W, H = self.heatmap_size
        self.scale_factor = np.array([(w - 1) / (W - 1), (h - 1) / (H - 1)], dtype=np.float32)
        self._kernel = _gaussian_kernel_1d(self.blur_kernel_size)

    # ------------------------------------------------------------------ encode
    def batch_encode(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``keypoints (B, K, 2)`` input pixels, ``visible (B, K)`` → ``heatmaps (B, K, H, W)``, ``weights (B, K)``.

        As mmpose: visibility < 0.5 draws no Gaussian but keeps its weight; a keypoint whose 3σ window lies
        fully outside the heatmap gets weight 0.
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.ndim != 3 or keypoints.shape[2] != 2:
            raise ValueError(f"batch_encode: keypoints must be (B, K, 2), got {keypoints.shape}")
        b, k = keypoints.shape[:2]
        vis = np.ones((b, k), np.float32) if visible is None else np.asarray(visible, np.float32)
        if vis.shape != (b, k):
            raise ValueError(f"batch_encode: visible must be ({b}, {k}), got {vis.shape}")
        W, H = self.heatmap_size
        kp = keypoints / self.scale_factor
        radius = self.sigma * 3
        size = 2 * radius + 1
        taps = int(np.ceil(size))
        x0 = size // 2
        mu = (kp + 0.5).astype(np.int64)  # truncation toward 0, as mmpose
        lo = (mu - radius).astype(np.int64)
        hi = (mu + radius + 1).astype(np.int64)
        outside = (lo[..., 0] >= W) | (lo[..., 1] >= H) | (hi[..., 0] < 0) | (hi[..., 1] < 0)
        draw = (vis >= 0.5) & ~outside
        weights = np.where((vis >= 0.5) & outside, 0.0, vis).astype(np.float32)
        centre = x0 + (kp - mu)  # sub-pixel centre inside the window, per axis
        # The Gaussian is separable: a dense x-profile per keypoint (B, K, W), times its window's y-values, is
        # written row by row into a zeroed array, only the taps rows of each window (B*K*taps rows).
        two_var = np.float32(2 * self.sigma**2)
        px = np.arange(W, dtype=np.float32)
        gx = px[None, None, :] - lo[..., 0, None]  # window tap index of each column
        in_x = (gx >= 0) & (gx < taps) & (px[None, None, :] < hi[..., 0, None])
        profile_x = np.where(in_x, np.exp(-((gx - centre[..., 0, None]) ** 2) / two_var), 0.0).astype(np.float32)
        tap = np.arange(taps)
        rows = lo[..., 1, None] + tap  # (B, K, taps)
        in_y = (rows >= 0) & (rows < H) & (rows < hi[..., 1, None]) & draw[..., None]
        profile_y = np.exp(-((tap - centre[..., 1, None]) ** 2) / two_var).astype(np.float32)
        bi, ki, ti = np.nonzero(in_y)
        heatmaps = np.zeros((b, k, H, W), dtype=np.float32)
        heatmaps[bi, ki, rows[bi, ki, ti]] = profile_y[bi, ki, ti, None] * profile_x[bi, ki]
        return heatmaps, weights

    def encode(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``keypoints (K, 2)``, ``visible (K,)`` → ``heatmaps (K, H, W)``, ``weights (K,)``."""
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.ndim != 2 or keypoints.shape[1] != 2:
            raise ValueError(f"encode: keypoints must be (K, 2), got {keypoints.shape}")
        vis = None if visible is None else np.asarray(visible, np.float32)[None]
        heatmaps, weights = self.batch_encode(keypoints[None], vis)
        return heatmaps[0], weights[0]

    def _band(self, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """``(n, n)`` matrix of the 1-D blur with a zero border (symmetric kernel: left or right product)."""
        key = (n, dtype, str(device))
        cache = self.__dict__.setdefault("_bands", {})
        if key not in cache:
            pad = self.blur_kernel_size // 2
            offset = np.arange(n)[None, :] - np.arange(n)[:, None]
            band = np.where(np.abs(offset) <= pad, self._kernel[np.clip(offset + pad, 0, 2 * pad)], 0.0)
            cache[key] = torch.as_tensor(band, dtype=dtype, device=device)
        return cache[key]

    def _blur(self, hm: torch.Tensor) -> torch.Tensor:
        """The DARK blur (zero border) of whole ``(..., H, W)`` maps: two banded matrix products."""
        h, w = hm.shape[-2:]
        return self._band(h, hm.dtype, hm.device) @ hm @ self._band(w, hm.dtype, hm.device)

    def _blurred_around(self, hm: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The blurred map at the 3x3 pixels ``(clamp(x+dx), clamp(y+dy))``, ``dx, dy in (-1, 0, 1)``, each an
        explicit ``ks x ks`` weighted sum of ``hm (B, K, H, W)`` around it (zero border) → ``(B, K, 3, 3)``
        indexed ``[dy + 1, dx + 1]``. Equal to :meth:`_blur` read at those pixels, without blurring the map."""
        b, k, h, w = hm.shape
        pad = self.blur_kernel_size // 2
        off = torch.arange(-1, 2, device=hm.device)
        tap = torch.arange(-pad, pad + 1, device=hm.device)
        rows = (y[..., None] + off).clamp(0, h - 1)[..., None] + tap  # (B, K, 3, ks)
        cols = (x[..., None] + off).clamp(0, w - 1)[..., None] + tap
        ok = ((rows >= 0) & (rows < h))[..., :, None, :, None] & ((cols >= 0) & (cols < w))[..., None, :, None, :]
        index = rows.clamp(0, h - 1)[..., :, None, :, None] * w + cols.clamp(0, w - 1)[..., None, :, None, :]
        values = hm.reshape(b, k, -1).gather(2, index.reshape(b, k, -1)).reshape(index.shape)
        kernel = torch.as_tensor(self._kernel, dtype=hm.dtype, device=hm.device)
        return torch.einsum("bkijvu,v,u->bkij", values * ok, kernel, kernel)

    # ------------------------------------------------------------------ decode
    def batch_decode(
        self, heatmaps: np.ndarray | torch.Tensor
    ) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
        """``heatmaps (B, K, H, W)`` → ``keypoints (B, K, 2)`` in input pixels and ``scores (B, K)``.

        numpy in → numpy out; a tensor in → tensors on its device (computed in float32/float64).
        """
        is_numpy = not isinstance(heatmaps, torch.Tensor)
        hm = torch.from_numpy(np.asarray(heatmaps)) if is_numpy else heatmaps
        if hm.ndim != 4:
            raise ValueError(f"batch_decode: heatmaps must be (B, K, H, W), got {tuple(hm.shape)}")
        kpts, scores = self._decode_torch(hm.detach())
        if is_numpy:
            return kpts.numpy().astype(np.float32), scores.numpy().astype(np.float32)
        return kpts.float(), scores.float()

    def decode(
        self, heatmaps: np.ndarray | torch.Tensor
    ) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
        """``heatmaps (K, H, W)`` → ``keypoints (K, 2)`` in input pixels and ``scores (K,)``."""
        if heatmaps.ndim != 3:
            raise ValueError(f"decode: heatmaps must be (K, H, W), got {tuple(heatmaps.shape)}")
        kpts, scores = self.batch_decode(heatmaps[None])
        return kpts[0], scores[0]

    def _decode_torch(self, hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hm = hm.float()
        b, k, h, w = hm.shape
        flat = hm.reshape(b, k, -1)
        scores, idx = flat.max(dim=2)
        found = scores > 0
        x = torch.where(found, idx % w, torch.full_like(idx, -1))
        y = torch.where(found, idx // w, torch.full_like(idx, -1))
        # DARK-UDP: blur (zero border), rescale to the original maximum, log, Newton step at the argmax.
        # Only the 3x3 blurred neighbourhood of the argmax enters the step. The rescaling by
        # ratio = max(hm) / max(blurred) adds log(ratio) to all nine logs, which the differences cancel,
        # unless mmpose's clamp to [1e-3, 50] before the log bites: it cannot when the nine values are
        # >= 1e-3 and max(hm) <= 50 (ratio >= 1 and values * ratio <= max(hm)). Only the other channels
        # (flat, negative or huge maps) are blurred whole to get max(blurred) exactly.
        near = self._blurred_around(hm, x, y)
        ratio = torch.ones_like(scores)
        exact = ~(found & (near.amin(dim=(-1, -2)) >= 1e-3) & (scores <= 50.0))
        if bool(exact.any()):
            bmax = self._blur(hm[exact]).amax(dim=(-1, -2))
            sel = found[exact] & (bmax > 0)
            ratio[exact] = torch.where(sel, scores[exact] / bmax.clamp_min(1e-30), torch.ones_like(bmax))
        logs = torch.log((near * ratio[..., None, None]).clamp(1e-3, 50.0)).double()

        def at(dx: int, dy: int) -> torch.Tensor:
            # mmpose pads the log map by one pixel ('edge') and looks up at (x+1, y+1): clamping = edge padding
            return logs[..., dy + 1, dx + 1]

        c = at(0, 0)
        dx = 0.5 * (at(1, 0) - at(-1, 0))
        dy = 0.5 * (at(0, 1) - at(0, -1))
        dxx = at(1, 0) - 2 * c + at(-1, 0)
        dyy = at(0, 1) - 2 * c + at(0, -1)
        dxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * c - at(-1, 0) - at(0, -1) + at(-1, -1))
        eps = float(np.finfo(np.float32).eps)
        a, d = dxx + eps, dyy + eps
        det = a * d - dxy * dxy
        safe = det.abs() > 1e-30
        det = torch.where(safe, det, torch.ones_like(det))
        ox = torch.where(safe, (d * dx - dxy * dy) / det, torch.zeros_like(det))
        oy = torch.where(safe, (-dxy * dx + a * dy) / det, torch.zeros_like(det))
        refined = torch.stack([x.double() - ox, y.double() - oy], dim=-1)
        refined = torch.where(found[..., None], refined, torch.stack([x, y], -1).double())
        size_in = torch.tensor(self.input_size, dtype=torch.float64, device=hm.device)
        size_hm = torch.tensor([w - 1, h - 1], dtype=torch.float64, device=hm.device)
        return refined / size_hm * size_in, scores
