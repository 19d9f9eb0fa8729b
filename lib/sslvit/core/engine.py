"""The reduced engine: the one-layer ViT on its attention correlations ``(A, B)`` (book chapter 2).

With orthonormal features and position embeddings, the score of query ``p`` on key ``q`` in an image of
cluster ``k`` is::

    S[p, q] = B[p, q] + vis[q] · z_{j(q)} · A[p, k, j(q)]

and the output ``F_p`` has coordinate ``m[j, p] · z_j`` on the feature ``v_{k,j}``, where the **area mass**
``m[j, p] = Σ_{q visible in area j} attn[p, q]`` is the attention that query ``p`` puts on the visible
patches of area ``j``. Both objectives see the model only through ``m``. One training step is:
correlations → area masses (a forward function), the objective's gradient with respect to ``m``
(:mod:`sslvit.core.objectives`), and the exact gradient back to ``A`` and ``B`` written out by hand (a backward
function). The trainer calls :func:`forward` and :func:`backward`, which pick between two implementations of the
same mathematics:

* **dense** (:func:`dense_forward`, :func:`dense_backward`): builds the ``P × P`` attention of every image.
  Readable, gives the attention maps (pictures), checks the fast one, and takes over where the fast one would
  lose precision.
* **fast** (:func:`fast_forward`, :func:`fast_backward`): never builds a ``P × P`` tensor per image. Since
  the FP part of a score is constant over the visible keys of an area, the softmax factorises::

      m[j, p] = e^{a_j} T[j, p] / Z[p],   a_j = z_j A[p, k, j],   T[j, p] = Σ_{q vis ∈ j} e^{B[p, q]},
      Z[p] = Σ_j e^{a_j} T[j, p] + Σ_{q masked} e^{B[p, q]}

  and ``T`` for all images is one sparse (visible keys) × dense (``e^B``) product, per run. The evaluation's
  NMI and attention distance go the same way (:func:`fast_attention_parts`).

Every tensor has a leading run axis ``R``: many independent configurations train as one batched
computation. Shapes: ``A`` ``(R, P, K, N)``, ``B`` ``(R, P, P)``, ``area`` ``(R, K, P)``, ``cluster``
``(R, Bt)``, ``scale`` ``(R, Bt, N)``, ``visible`` ``(R, Bt, P)`` bool, masses ``(R, Bt, N, P)``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

__all__ = [
    "key_areas",
    "area_masses",
    "ViewMasses",
    "scores",
    "DenseForward",
    "dense_forward",
    "dense_backward",
    "FastForward",
    "fast_forward",
    "fast_backward",
    "softmax_chain",
    "backward_chain",
    "forward",
    "backward",
    "AttentionParts",
    "fast_attention_parts",
    "dense_attention_parts",
]



def key_areas(area: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
    """Area of every position of every image: ``area`` ``(R, K, P)``, ``cluster`` ``(R, Bt)`` → ``(R, Bt, P)``."""
    P = area.shape[2]
    return torch.gather(area, 1, cluster[..., None].expand(-1, -1, P))


def area_masses(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(..., N, P)`` of a dense attention ``(..., P, P)`` (rows: queries): ``m[j, p]`` is the attention
    of query ``p`` on the visible patches of area ``j`` (masked keys carry the value 0, so they are in no area).
    ``key_area`` ``(..., P)`` long, ``visible`` ``(..., P)`` (bool or 0/1)."""
    mass = attn.new_zeros(*attn.shape[:-1], n_areas)
    mass.scatter_add_(-1, key_area[..., None, :].expand(attn.shape), attn * visible.to(attn.dtype)[..., None, :])
    return mass.transpose(-1, -2)


@dataclass
class ViewMasses:
    """The area masses of one view ``mass`` ``(R, Bt, N, P)`` and the area of every position ``key_area``
    ``(R, Bt, P)``: what an objective's metrics need from the evaluation."""

    mass: torch.Tensor
    key_area: torch.Tensor


def _image_correlations(A: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
    """``A[p, k_b, j]`` for every image, laid out ``(R, Bt, N, P)``."""
    R, P, K, N = A.shape
    A_knp = A.permute(0, 2, 3, 1).reshape(R * K, N * P)                    # rows (r, k), a copy
    rows = (torch.arange(R, device=A.device)[:, None] * K + cluster).flatten()
    return A_knp.index_select(0, rows).view(R, cluster.shape[1], N, P)     # (R, Bt, N, P), row copies


# ---- dense: the P × P attention of every image ---------------------------------------------------------------

@dataclass
class DenseForward:
    """``attn`` ``(R, Bt, P, P)`` (rows: queries); ``mass`` ``(R, Bt, N, P)``; ``key_area`` ``(R, Bt, P)``;
    ``coeff`` ``(R, Bt, P)`` = ``vis[q] z_{j(q)}``; ``visible`` ``(R, Bt, P)`` in the working dtype."""

    attn: torch.Tensor
    mass: torch.Tensor
    key_area: torch.Tensor
    coeff: torch.Tensor
    visible: torch.Tensor


def scores(A: torch.Tensor, B: torch.Tensor, key_area: torch.Tensor, coeff: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
    """Attention scores ``S[r, b, p, q] = B[p, q] + coeff[q] · A[p, k_b, j(q)]``, ``(R, Bt, P, P)``."""
    R, P = B.shape[:2]
    Bt = cluster.shape[1]
    A_img = _image_correlations(A, cluster).transpose(2, 3)                # (R, Bt, P, N)
    S = torch.gather(A_img, 3, key_area[:, :, None, :].expand(R, Bt, P, P))  # A[p, k, j(q)]
    return S.mul_(coeff[:, :, None, :]).add_(B[:, None])


def dense_forward(A: torch.Tensor, B: torch.Tensor, area: torch.Tensor, cluster: torch.Tensor,
                  scale: torch.Tensor, visible: torch.Tensor) -> DenseForward:
    """Attention of every image and its area masses (shapes in the module docstring)."""
    N = A.shape[3]
    vis = visible.to(A.dtype)                                              # (R, Bt, P)
    key_area = key_areas(area, cluster)                                    # (R, Bt, P)
    coeff = vis * torch.gather(scale, 2, key_area)                         # (R, Bt, P)
    attn = torch.softmax(scores(A, B, key_area, coeff, cluster), dim=-1)   # (R, Bt, P, P)
    mass = area_masses(attn, key_area, vis, N).contiguous()                # (R, Bt, N, P)
    return DenseForward(attn=attn, mass=mass, key_area=key_area, coeff=coeff, visible=vis)


def dense_backward(fwd: DenseForward, grad_mass: torch.Tensor, cluster: torch.Tensor, n_clusters: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(dA, dB)`` from ``grad_mass`` ``(R, Bt, N, P)`` through the dense attention.

    ``dattn[p, q] = vis_q dm[j(q), p]``; softmax: ``dS = attn ⊙ (dattn − Σ_q attn ⊙ dattn)``;
    ``dB = Σ_images dS``; ``dA[p, k, j] = Σ_{images of k} Σ_{q ∈ j} dS[p, q] vis_q z_j``.
    """
    attn, key_area = fwd.attn, fwd.key_area
    R, Bt, N, P = grad_mass.shape
    dS = torch.gather(grad_mass.transpose(2, 3), 3, key_area[:, :, None, :].expand(R, Bt, P, P))
    dS.mul_(fwd.visible[:, :, None, :]).mul_(attn)
    dS.sub_(attn * dS.sum(-1, keepdim=True))                                # softmax backward
    dB = dS.sum(1)                                                          # (R, P, P)
    dS.mul_(fwd.coeff[:, :, None, :])
    dA_img = dS.new_zeros(R, Bt, P, N).scatter_add_(3, key_area[:, :, None, :].expand(R, Bt, P, P), dS)
    onehot = torch.nn.functional.one_hot(cluster, n_clusters).to(dS.dtype)  # (R, Bt, K)
    return torch.einsum("rbpn,rbk->rpkn", dA_img, onehot), dB


# ---- fast: the factorised softmax --------------------------------------------------------------------------

@dataclass
class FastForward:
    """What :func:`fast_backward` needs. ``mass`` ``(R, Bt, N, P)``; ``ea`` ``(R, Bt, N, P)`` =
    ``e^{a − α}``; ``Z`` and ``alpha`` ``(R, Bt, P)``; ``Et`` ``(R, P, P)``: ``e^{B − rowmax B}`` transposed
    (``Et[r, q, p] = e^{B[r, p, q] − max_q' B[r, p, q']}``);
    ``by_key``: sparse ``(R P, R Bt N)`` incidence (key, image-area) of the visible keys (CSR), ``by_area`` its
    transpose (COO); ``T_masked`` ``(R, Bt, P)``: ``Σ_{q masked} Et[q, p]``; ``rowmax`` ``(R, P)``: the row
    maxima of ``B``; ``key_area`` ``(R, Bt, P)``."""

    mass: torch.Tensor
    ea: torch.Tensor
    Z: torch.Tensor
    alpha: torch.Tensor
    Et: torch.Tensor
    visible: torch.Tensor
    by_key: torch.Tensor
    by_area: torch.Tensor
    T_masked: torch.Tensor
    rowmax: torch.Tensor
    key_area: torch.Tensor


def _csr(crow: torch.Tensor, cols: torch.Tensor, dtype: torch.dtype, size: tuple[int, int]) -> torch.Tensor:
    """A 0/1 sparse CSR matrix (built from indices that are valid by construction)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, cols, torch.ones(cols.numel(), dtype=dtype, device=cols.device),
                                       size=size, check_invariants=False)


def _coo(rows: torch.Tensor, cols: torch.Tensor, dtype: torch.dtype, size: tuple[int, int]) -> torch.Tensor:
    """A 0/1 sparse COO matrix, its indices sorted and unique by construction (a product with it is one pass
    over its entries; PyTorch's CSR product is several times slower on the CPU for matrices with many short rows)."""
    values = torch.ones(cols.numel(), dtype=dtype, device=cols.device)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, size, is_coalesced=True, check_invariants=False)


def _incidence(area: torch.Tensor, cluster: torch.Tensor, visible: torch.Tensor, key_area: torch.Tensor,
               dtype: torch.dtype, N: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse incidence of visible keys and (image, area) pairs, in both orientations.

    ``by_area``: ``(R Bt N, R P)`` (COO), row ``(r, b, j)`` has a 1 at column ``(r, q)`` for each visible ``q ∈ j``.
    ``by_key``: its transpose, ``(R P, R Bt N)`` (CSR). Also returns the visible keys per area ``(R, Bt, N)``.
    """
    R, Bt, P = visible.shape
    dev = visible.device
    r_off = (torch.arange(R, device=dev) * P)[:, None, None]
    # rows (r, b, j) in order: positions of each image sorted by area, keep the visible ones
    order = torch.gather(torch.argsort(area, dim=-1, stable=True), 1, cluster[..., None].expand(-1, -1, P))
    vis_sorted = torch.gather(visible, 2, order)
    cols = (order + r_off)[vis_sorted]
    counts = torch.zeros(R, Bt, N, dtype=torch.long, device=dev).scatter_add_(2, key_area, visible.long())
    rows = torch.repeat_interleave(torch.arange(R * Bt * N, device=dev), counts.flatten(), output_size=cols.numel())
    by_area = _coo(rows, cols, dtype, (R * Bt * N, R * P))
    # rows (r, q): the images b where q is visible, column (r, b, j(q))
    img_col = (torch.arange(R, device=dev)[:, None] * Bt + torch.arange(Bt, device=dev)[None, :]) * N  # (R, Bt)
    colsk = (img_col[:, :, None] + key_area).transpose(1, 2)               # (R, P, Bt)
    vis_t = visible.transpose(1, 2)
    kcols = colsk[vis_t]
    kcrow = torch.cat([counts.new_zeros(1), vis_t.sum(-1).flatten().cumsum(0)])
    by_key = _csr(kcrow, kcols, dtype, (R * P, R * Bt * N))
    return by_area, by_key, counts


def fast_forward(A: torch.Tensor, B: torch.Tensor, area: torch.Tensor, cluster: torch.Tensor,
                 scale: torch.Tensor, visible: torch.Tensor) -> Optional[FastForward]:
    """Area masses through the factorised softmax (module docstring). Returns ``None`` when the factorisation
    would lose precision (a row of ``B`` spans more than the dtype's exponent range, or a normaliser
    leaves the normal range); the caller then uses :func:`dense_forward`. The shift ``α`` is the largest
    score ``a_j`` (and 0 where a key is masked), so the largest term is at most 1."""
    R, P, K, N = A.shape
    Bt = cluster.shape[1]
    rowmax = B.amax(-1, keepdim=True)                                      # (R, P, 1)
    span = (rowmax[..., 0] - B.amin(-1)).max() if B.numel() else B.new_zeros(())
    if span > (60.0 if A.dtype == torch.float32 else 600.0):
        return None
    key_area = key_areas(area, cluster)
    by_area, by_key, counts = _incidence(area, cluster, visible, key_area, A.dtype, N)
    Et = torch.empty_like(B)                                               # e^{B − rowmax B}, stored transposed:
    torch.sub(B.transpose(1, 2), rowmax.transpose(1, 2), out=Et).exp_()    # Et[r, q, p] = E[r, p, q]
    Et = Et.view(R * P, P)                                                 # rows (r, q), columns p
    T = torch.sparse.mm(by_area, Et).view(R, Bt, N, P)                     # Σ_{q vis ∈ j} e^{B[p,q]}
    masked = (~visible).to(A.dtype)
    T_masked = torch.bmm(masked, Et.view(R, P, P))                         # (R, Bt, P) Σ_{q masked} e^{B[p,q]}
    mass, ea, Z, alpha = softmax_chain(_image_correlations(A, cluster), scale, T, T_masked)
    if not bool((Z >= torch.finfo(Z.dtype).tiny).all()) or not bool(torch.isfinite(Z).all()):
        return None
    return FastForward(mass=mass, ea=ea, Z=Z, alpha=alpha, Et=Et.view(R, P, P), visible=visible, by_key=by_key,
                       by_area=by_area, T_masked=T_masked, rowmax=rowmax[..., 0], key_area=key_area)


def softmax_chain(a: torch.Tensor, scale: torch.Tensor, T: torch.Tensor, T_masked: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The element-wise part of :func:`fast_forward`: from ``a = A[p, k_b, j]`` ``(R, Bt, N, P)`` (overwritten),
    ``scale`` ``(R, Bt, N)``, ``T`` ``(R, Bt, N, P)`` (overwritten) and ``T_masked`` ``(R, Bt, P)`` to ``(mass,
    e^{a − α}, Z, α)``. An area with no visible key has ``T = 0`` and so no term; its score may set ``α`` (then
    every term is smaller than 1, and a normaliser that leaves the normal range sends the step to the dense
    attention)."""
    a.mul_(scale[..., None])                                               # a_j = z_j A[p, k, j]
    alpha = a.amax(2)                                                      # (R, Bt, P) largest score
    alpha = torch.where(T_masked > 0, alpha.clamp(min=0.0), alpha)         # masked keys score 0
    ea = a.sub_(alpha[:, :, None]).exp_()                                  # e^{a − α}
    w = T.mul_(ea)
    Z = w.sum(2).add_(torch.exp(-alpha).mul_(T_masked))                    # (R, Bt, P)
    return w.mul_(Z.reciprocal()[:, :, None]), ea, Z, alpha


def fast_backward(fwd: FastForward, grad_mass: torch.Tensor, cluster: torch.Tensor, scale: torch.Tensor,
                  n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(dA, dB)`` from ``grad_mass`` ``(R, Bt, N, P)`` through the factorised softmax.

    With ``s = Σ_j m_j dm_j``: ``da_j = m_j (dm_j − s)``, ``dT_j = e^{a_j}/Z (dm_j − s)``,
    ``dT_masked = −s / Z``, ``dE[p, q] = Σ_images dT[j(q), p]`` (visible ``q``) or ``dT_masked[p]`` (masked),
    ``dB = dE ⊙ E`` (the row shift of ``B`` cancels). ``grad_mass`` may be a broadcast view; ``fwd.ea`` is
    overwritten (a forward pass serves one backward pass).
    """
    R, Bt, N, P = grad_mass.shape
    m = fwd.mass
    da, dT, dT_masked = backward_chain(m, grad_mass, fwd.ea, fwd.Z, fwd.alpha, scale)
    onehot = torch.nn.functional.one_hot(cluster, n_clusters).to(m.dtype)  # (R, Bt, K)
    dA = torch.bmm(onehot.transpose(1, 2), da.reshape(R, Bt, N * P)).view(R, n_clusters, N, P).permute(0, 3, 1, 2)
    dEt = (fwd.by_key @ dT.reshape(R * Bt * N, P)).view(R, P, P)            # [r, q, p]
    masked = (~fwd.visible).to(m.dtype)
    dEt.add_(torch.bmm(dT_masked.transpose(1, 2), masked).transpose(1, 2))  # masked keys
    return dA.contiguous(), dEt.mul_(fwd.Et).transpose(1, 2)               # dB[r, p, q], a transposed view


def backward_chain(m: torch.Tensor, grad_mass: torch.Tensor, ea: torch.Tensor, Z: torch.Tensor, alpha: torch.Tensor,
                   scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The element-wise part of :func:`fast_backward`: ``(z_j da_j, dT, dT_masked)`` from the masses and their
    gradient ``(R, Bt, N, P)`` (which may be a broadcast view, e.g. CL's gradient, constant over the queries),
    ``e^{a − α}`` (overwritten), ``Z``, ``α`` and ``scale``."""
    s = torch.linalg.vecdot(m, grad_mass, dim=2)                           # (R, Bt, P) Σ_j m_j dm_j
    g = grad_mass - s[:, :, None]                                          # dm − s
    inv_Z = Z.reciprocal()
    da = torch.mul(g, scale[..., None]).mul_(m)                            # z_j da_j, (R, Bt, N, P)
    dT = ea.mul_(g).mul_(inv_Z[:, :, None])                                # (R, Bt, N, P)
    dT_masked = -s * torch.exp(-alpha) * inv_Z                             # (R, Bt, P)
    return da, dT, dT_masked


# ---- the trainer's two calls -----------------------------------------------------------------------------------

Forward = Union[FastForward, DenseForward]


def forward(A: torch.Tensor, B: torch.Tensor, area: torch.Tensor, cluster: torch.Tensor, scale: torch.Tensor,
            views: Sequence[torch.Tensor], method: str = "fast") -> list[Forward]:
    """Area masses of every view ``views[v]`` ``(R, Bt, P)``: the factorised softmax (``method="fast"``) unless it
    would lose precision for one of the views (then all views take the dense attention), or the dense attention
    (``method="dense"``). Each result's ``mass`` is ``(R, Bt, N, P)``."""
    if method == "fast":
        fwds = [fast_forward(A, B, area, cluster, scale, v) for v in views]
        if all(f is not None for f in fwds):
            return fwds  # type: ignore[return-value]
    return [dense_forward(A, B, area, cluster, scale, v) for v in views]


def backward(fwds: Sequence[Forward], grads: Sequence[torch.Tensor], cluster: torch.Tensor, scale: torch.Tensor,
             n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dA, dB)``: the gradients with respect to the views' masses ``grads[v]`` (broadcastable to
    ``(R, Bt, N, P)``) taken back through each view's forward pass, summed over the views."""
    dA = dB = None
    for f, g in zip(fwds, grads):
        g = g.expand(f.mass.shape)
        if isinstance(f, FastForward):
            ga, gb = fast_backward(f, g, cluster, scale, n_clusters)
        else:
            ga, gb = dense_backward(f, g, cluster, n_clusters)
        dA, dB = (ga, gb) if dA is None else (dA + ga, dB + gb)
    return dA, dB  # type: ignore[return-value]


# ---- what the attention metrics need, without the P × P attention ------------------------------------------------

@dataclass
class AttentionParts:
    """Per image and query, what the NMI and the attention distance of chapter 6 need from an attention ``a``
    (rows: queries): ``row_xlogx`` ``(R, Bt, P)`` = ``Σ_q a[p, q] log a[p, q]``, ``key_mass`` ``(R, Bt, P)`` =
    ``(1/P) Σ_p a[p, q]`` (indexed by the key ``q``), and ``distance`` ``(R, Bt, P)`` = ``Σ_q a[p, q] dist[p, q]``
    (``None`` without a distance)."""

    row_xlogx: torch.Tensor
    key_mass: torch.Tensor
    distance: Optional[torch.Tensor]


def dense_attention_parts(attn: torch.Tensor, dist: Optional[torch.Tensor] = None) -> AttentionParts:
    """:class:`AttentionParts` of a dense attention ``(..., Bt, P, P)``; ``dist`` ``(P, P)``."""
    return AttentionParts(torch.special.xlogy(attn, attn).sum(-1), attn.mean(-2),
                          None if dist is None else (attn * dist.to(attn.dtype)).sum(-1))


def _weighted_sums(fwd: FastForward, X: torch.Tensor) -> torch.Tensor:
    """``Σ_q a[p, q] X[p, q]`` ``(R, Bt, P)`` through the factorisation, for ``X`` ``(R, P, P)`` (rows: queries)."""
    R, Bt, N, P = fwd.mass.shape
    Yt = (X.transpose(1, 2) * fwd.Et).reshape(R * P, P)                                # (e^B ⊙ X) transposed
    U = torch.sparse.mm(fwd.by_area, Yt).view(R, Bt, N, P)                              # Σ_{q vis ∈ j}
    U_masked = torch.bmm((~fwd.visible).to(X.dtype), Yt.view(R, P, P))                  # Σ_{q masked}
    return ((fwd.ea * U).sum(2) + torch.exp(-fwd.alpha) * U_masked) / fwd.Z


def fast_attention_parts(fwd: FastForward, B: torch.Tensor, dist: Optional[torch.Tensor] = None) -> AttentionParts:
    """:class:`AttentionParts` from a :func:`fast_forward` (before any backward pass, which overwrites ``fwd.ea``)
    and ``B`` ``(R, P, P)``, without the ``P × P`` attention of an image. With ``attn[p, q] = e^{a_j − α}
    e^{B[p, q] − rowmax_p} / Z`` (``a_j``: the FP score of ``q``'s area; 0 and ``j`` none for a masked key):

    ``Σ_q a log a = Σ_j m_j (a_j − α) − α m_masked + Σ_q a[p, q] B[p, q] − rowmax_p − log Z``, the last sum through
    the factorisation with ``B ⊙ e^B``; the key marginal ``(1/P) Σ_p e^{a_{j(q)} − α} e^{B[p, q]} / Z`` is one
    matrix product per run; the distance is the factorisation with ``dist ⊙ e^B``."""
    R, Bt, N, P = fwd.mass.shape
    m, ea, Z, alpha = fwd.mass, fwd.ea, fwd.Z, fwd.alpha
    m_masked = torch.exp(-alpha) * fwd.T_masked / Z                                     # (R, Bt, P)
    log_ea = torch.where(ea > 0, ea.log(), 0.0)                                         # a_j − α (0 where m_j = 0)
    row = ((m * log_ea).sum(2) - alpha * m_masked + _weighted_sums(fwd, B)
           - fwd.rowmax[:, None, :] - Z.log())
    W = (ea / Z[:, :, None, :]).reshape(R, Bt * N, P)                                   # e^{a_j − α} / Z
    by_area_key = torch.bmm(W, fwd.Et.transpose(1, 2)).view(R, Bt, N, P)               # [r, b, j, q]: Σ_p W E[p, q]
    visible_mass = torch.gather(by_area_key, 2, fwd.key_area[:, :, None, :])[:, :, 0, :]
    masked_mass = torch.bmm(torch.exp(-alpha) / Z, fwd.Et.transpose(1, 2))              # (R, Bt, P)
    key_mass = torch.where(fwd.visible, visible_mass, masked_mass) / P
    distance = None if dist is None else _weighted_sums(fwd, dist.to(B.dtype).expand(R, P, P))
    return AttentionParts(row, key_mass, distance)
