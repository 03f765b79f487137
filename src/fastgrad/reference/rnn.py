"""Recurrent layers: the recurrence of one layer and direction over a sequence, given
the input projection gi (T, B, G) of every step, with the saved-state layout of
csrc/rnn.h (dense (T, B, .) blocks in time order: hp, then ha for RNN_TANH / RNN_RELU;
cp, tanh(c), gates for LSTM; gates, W_hn h + b_hn for GRU).  Written step by step in
float64 arithmetic on the input dtype's values, rounded once per stored value."""
import numpy as np

# modes: the C module's RNN_MODES values
TANH, RELU, LSTM, GRU = 0, 1, 2, 3
_GATES = {TANH: 1, RELU: 1, LSTM: 4, GRU: 3}
_BLOCKS = {TANH: 2, RELU: 2, LSTM: 7, GRU: 5}


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def rnn_ws_elems(mode, steps, batch, hidden):
    if mode not in _GATES or steps < 0 or batch < 0 or hidden < 1:
        raise ValueError(f"rnn: invalid mode {mode} or sizes steps={steps} batch={batch} "
                         f"hidden={hidden}")
    return steps * batch * hidden * _BLOCKS[mode]


def _views(mode, ws, T, B, H):
    """The saved blocks of ws as (T, B, .) views, by name."""
    n = T * B * H
    blk = lambda i, k=1: ws[i * n:(i + k) * n].reshape(T, B, k * H)  # noqa: E731
    v = {"hp": blk(0)}
    if mode == LSTM:
        v.update(cp=blk(1), tc=blk(2), gates=blk(3, 4))
    elif mode == GRU:
        v.update(gates=blk(1, 3), hn=blk(4))
    else:
        v["ha"] = blk(1)
    return v


def rnn_fwd(mode, gi, w_hh, b_hh, h0, c0, reverse, batch_sizes=None):
    dt = gi.dtype
    T, B, G = gi.shape
    H = w_hh.shape[1]
    ws = np.empty(rnn_ws_elems(mode, T, B, H), dt)
    v = _views(mode, ws, T, B, H)
    y = np.empty((T, B, H), dt)
    h = np.zeros((B, H)) if h0 is None else h0.astype(np.float64)
    c = (np.zeros((B, H)) if c0 is None else c0.astype(np.float64)) if mode == LSTM else None
    w = w_hh.astype(np.float64)
    b = 0.0 if b_hh is None else b_hh.astype(np.float64)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        nb = B if batch_sizes is None else int(batch_sizes[t])
        v["hp"][t] = h
        h = v["hp"][t].astype(np.float64)          # the stored (rounded) state
        h_keep, c_keep = h, None
        gh = (h @ w.T + b).astype(dt).astype(np.float64)
        a = gi[t].astype(np.float64)
        if mode == LSTM:
            v["cp"][t] = c
            c = v["cp"][t].astype(np.float64)
            c_keep = c
            pre = a + gh
            i, f, o = (_sig(pre[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
            g = np.tanh(pre[:, 2 * H:3 * H])
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            v["gates"][t] = np.concatenate([i, f, g, o], 1)
            v["tc"][t] = tc
        elif mode == GRU:
            r = _sig(a[:, :H] + gh[:, :H])
            z = _sig(a[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(a[:, 2 * H:] + r * gh[:, 2 * H:])
            h = n + z * (h - n)
            v["gates"][t] = np.concatenate([r, z, n], 1)
            v["hn"][t] = gh[:, 2 * H:]
        else:
            pre = a + gh
            h = np.tanh(pre) if mode == TANH else np.where(pre > 0, pre, np.where(pre != pre, pre, 0.0))
            v["ha"][t] = h
        if nb < B:        # rows past nb wait: state kept, output 0
            h = np.concatenate([h[:nb], h_keep[nb:]])
            if mode == LSTM:
                c = np.concatenate([c[:nb], c_keep[nb:]])
        y[t] = h
        y[t, nb:] = 0
    hn = h.astype(dt)
    cn = c.astype(dt) if mode == LSTM else None
    out = np.concatenate([y, cn[None]], 0) if mode == LSTM else y
    return out, hn, ws


def rnn_bwd(mode, steps, gy, ghn, gcn, w_hh, ws, reverse, want_h0, want_w, want_b,
            batch_sizes=None):
    dt = ws.dtype
    T, H = steps, w_hh.shape[1]
    B = ws.size // rnn_ws_elems(mode, T, 1, H)
    G = _GATES[mode] * H
    v = {k: a.astype(np.float64) for k, a in _views(mode, ws, T, B, H).items()}
    w = w_hh.astype(np.float64)
    dh = np.zeros((B, H)) if ghn is None else ghn.astype(np.float64)
    dc = np.zeros((B, H)) if (gcn is None or mode != LSTM) else gcn.astype(np.float64)
    dgi = np.empty((T, B, G), dt)
    dgh = np.zeros((T, B, G))
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        nb = B if batch_sizes is None else int(batch_sizes[t])
        dh_keep, dc_keep = dh, dc
        g = dh if gy is None else dh + gy[t].astype(np.float64)
        if mode == LSTM:
            ga = v["gates"][t]
            i, f, gg, o = (ga[:, k * H:(k + 1) * H] for k in range(4))
            tc = v["tc"][t]
            dcv = dc + g * o * (1 - tc * tc)
            d = np.concatenate([dcv * gg * i * (1 - i), dcv * v["cp"][t] * f * (1 - f),
                                dcv * i * (1 - gg * gg), g * tc * o * (1 - o)], 1)
            dc = dcv * f
            dgi[t] = d
            dgh[t] = d
            dh = d @ w
        elif mode == GRU:
            ga = v["gates"][t]
            r, z, n = ga[:, :H], ga[:, H:2 * H], ga[:, 2 * H:]
            dnp = g * (1 - z) * (1 - n * n)
            dzp = g * (v["hp"][t] - n) * z * (1 - z)
            drp = dnp * v["hn"][t] * r * (1 - r)
            dgi[t] = np.concatenate([drp, dzp, dnp], 1)
            dgh[t] = np.concatenate([drp, dzp, dnp * r], 1)
            dh = g * z + dgh[t] @ w
        else:
            ha = v["ha"][t]
            d = g * (1 - ha * ha) if mode == TANH else np.where(ha > 0, g, 0.0)
            dgi[t] = d
            dgh[t] = d
            dh = d @ w
        if nb < B:        # rows past nb took no step: no gate gradient, dh and dc pass
            dgi[t, nb:] = 0
            dgh[t, nb:] = 0
            dh = np.concatenate([dh[:nb], dh_keep[nb:]])
            dc = np.concatenate([dc[:nb], dc_keep[nb:]])
    dh0 = dh.astype(dt) if want_h0 else None
    dc0 = dc.astype(dt) if want_h0 and mode == LSTM else None
    flat = dgh.reshape(T * B, G)
    dw = (flat.T @ v["hp"].reshape(T * B, H)).astype(dt) if want_w else None
    db = flat.sum(0).astype(dt) if want_b else None
    return dgi, dh0, dc0, dw, db
