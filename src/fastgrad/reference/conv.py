"""2-d convolution, forward and backward, as a direct sum over kernel offsets (nothing in
common with the C kernels' im2col + GEMM).  Same signatures as fastgrad._C._kernels (see
_conv.pxi)."""
import numpy as np


def _conv_pad(x, ph, pw, hp, wp):
    out = np.zeros(x.shape[:2] + (hp, wp), dtype=np.float64)
    h, w = x.shape[2:]
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _conv_extent(n, p, o, s, k, d):
    return max(n + p, (o - 1) * s + (k - 1) * d + 1)


def conv2d(x, w, bias, stride, padding, dilation, groups, oh, ow):
    n, ci, h, wd = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = _conv_pad(x, ph, pw, _conv_extent(h, ph, oh, sh, kh, dh), _conv_extent(wd, pw, ow, sw, kw, dw))
    y = np.zeros((n, co, oh, ow))
    og = co // groups
    w64 = w.astype(np.float64)
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                           j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w64[g * og:(g + 1) * og, :, i, j])
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None, None]
    return y.astype(x.dtype)


def conv2d_bwd(g, x, w, xshape, wshape, stride, padding, dilation, groups, want_gx, want_gw, want_gb):
    n, ci, h, wd = xshape
    co, cg, kh, kw = wshape
    oh, ow = g.shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    hp, wp = _conv_extent(h, ph, oh, sh, kh, dh), _conv_extent(wd, pw, ow, sw, kw, dw)
    og = co // groups
    g64 = g.astype(np.float64)
    gx = gw = gb = None
    if want_gx:
        gxp = np.zeros((n, ci, hp, wp))
        w64 = w.astype(np.float64)
        for gi in range(groups):
            for i in range(kh):
                for j in range(kw):
                    gxp[:, gi * cg:(gi + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                        j * dw:j * dw + (ow - 1) * sw + 1:sw] += np.einsum(
                            "nohw,oc->nchw", g64[:, gi * og:(gi + 1) * og], w64[gi * og:(gi + 1) * og, :, i, j])
        gx = gxp[:, :, ph:ph + h, pw:pw + wd].astype(g.dtype)
    if want_gw:
        xp = _conv_pad(x, ph, pw, hp, wp)
        gw = np.zeros(wshape)
        for gi in range(groups):
            for i in range(kh):
                for j in range(kw):
                    patch = xp[:, gi * cg:(gi + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                               j * dw:j * dw + (ow - 1) * sw + 1:sw]
                    gw[gi * og:(gi + 1) * og, :, i, j] = np.einsum("nohw,nchw->oc",
                                                                   g64[:, gi * og:(gi + 1) * og], patch)
        gw = gw.astype(g.dtype)
    if want_gb:
        gb = g64.sum((0, 2, 3)).astype(g.dtype)
    return gx, gw, gb
