"""The chain rule, node by node, on y = tanh(w2 * sigmoid(w1 * x + b1) + b2).

The expression is a chain of small nodes

    u1 = w1 * x + b1,   h = sigmoid(u1),   u2 = w2 * h + b2,   y = tanh(u2)

each with a local derivative that only needs its own input and output:

    dy/du2 = 1 - y^2,   du2/dh = w2,   dh/du1 = h (1 - h),   du1/dw1 = x, ...

The derivative of y with respect to a leaf is the product of the local derivatives
along the path from y down to it.  The script prints every local derivative (in plain
Python floats, independently of fastgrad), multiplies them along each path and
compares the products with what backward() puts in each leaf's .grad, and with the
intermediate adjoints (retain_grad) -- equal to ~1e-12 in float64.  It prints the
graph that backward walks (fastgrad.viz.print_graph), writes it as Graphviz DOT text
(fastgrad.viz.draw_graph; rendered to PNG when the 'dot' program is installed) and
draws the same graph annotated with the local derivatives with matplotlib.

    python examples/calculus/03_chain_rule.py [--out DIR]
"""
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastgrad as fg
from fastgrad import viz
from _tour import Checks, parse_args, pyplot, save

VALUES = dict(x=0.8, w1=1.5, b1=-0.3, w2=-2.0, b2=0.4)


def main(argv=None):
    args = parse_args(__doc__, argv)
    checks = Checks()
    leaf = {k: fg.tensor(v, dtype=fg.float64, requires_grad=True) for k, v in VALUES.items()}
    x, w1, b1, w2, b2 = (leaf[k] for k in ("x", "w1", "b1", "w2", "b2"))
    u1 = w1 * x + b1
    h = fg.sigmoid(u1)
    u2 = w2 * h + b2
    y = fg.tanh(u2)
    for t in (u1, h, u2):
        t.retain_grad()             # keep the adjoints dy/du1, dy/dh, dy/du2
    print("the graph backward walks (fastgrad.viz.print_graph):")
    viz.print_graph(y, names=leaf)
    dot = viz.draw_graph(y, names=leaf)         # before backward: values are still saved
    y.backward()

    # the same numbers by hand, in plain floats
    v = VALUES
    U1 = v["w1"] * v["x"] + v["b1"]
    H = 1 / (1 + math.exp(-U1))
    U2 = v["w2"] * H + v["b2"]
    Y = math.tanh(U2)
    local = {
        "dy/du2 = 1 - y^2": 1 - Y * Y,
        "du2/dw2 = h": H, "du2/db2 = 1": 1.0, "du2/dh = w2": v["w2"],
        "dh/du1 = h (1 - h)": H * (1 - H),
        "du1/dw1 = x": v["x"], "du1/db1 = 1": 1.0, "du1/dx = w1": v["w1"],
    }
    print(f"\nforward: u1 = {U1:.6f}, h = {H:.6f}, u2 = {U2:.6f}, y = {Y:.6f}")
    checks.le("|y fastgrad - y by hand|", abs(y.item() - Y), 1e-15)
    print("local derivatives at each node:")
    for k, val in local.items():
        print(f"  {k:22s} = {val:+.12f}")
    L = list(local.values())
    dy_du2, du2_dw2, du2_db2, du2_dh, dh_du1, du1_dw1, du1_db1, du1_dx = L
    adj = {"u2": dy_du2, "h": dy_du2 * du2_dh, "u1": dy_du2 * du2_dh * dh_du1}
    paths = {
        "w2": ("dy/du2 * du2/dw2", dy_du2 * du2_dw2),
        "b2": ("dy/du2 * du2/db2", dy_du2 * du2_db2),
        "w1": ("dy/du2 * du2/dh * dh/du1 * du1/dw1", adj["u1"] * du1_dw1),
        "b1": ("dy/du2 * du2/dh * dh/du1 * du1/db1", adj["u1"] * du1_db1),
        "x": ("dy/du2 * du2/dh * dh/du1 * du1/dx", adj["u1"] * du1_dx),
    }
    print("products along the paths vs backward():")
    for name, (expr, prod) in paths.items():
        got = leaf[name].grad.item()
        print(f"  dy/d{name:2s} = {expr:36s} = {prod:+.15f}   backward: {got:+.15f}")
        checks.le(f"|dy/d{name} backward - product of local derivatives|", abs(got - prod),
                  1e-12)
    for name, t in (("u2", u2), ("h", h), ("u1", u1)):
        checks.le(f"|adjoint dy/d{name} (retain_grad) - product|", abs(t.grad.item() - adj[name]),
                  1e-12)

    dot_path = os.path.join(args.out, "03_chain_rule.dot")
    with open(dot_path, "w") as fh:
        fh.write(dot)
    print(f"wrote {dot_path}")
    if shutil.which("dot"):
        png = viz.render(dot, os.path.join(args.out, "03_chain_rule_graphviz.png"), format="png")
        print(f"wrote {png}")
    else:
        print("(Graphviz 'dot' not found: the DOT file is not rendered)")

    plt = pyplot(args)
    if plt is not None:
        vals = {"x": v["x"], "w1": v["w1"], "b1": v["b1"], "w2": v["w2"], "b2": v["b2"],
                "u1": U1, "h": H, "u2": U2, "y": Y}
        adjoint = {k: leaf[k].grad.item() for k in leaf}
        adjoint.update({"u1": u1.grad.item(), "h": h.grad.item(), "u2": u2.grad.item(), "y": 1.0})
        pos = {"w1": (0, 4), "x": (0, 2.6), "b1": (0, 1.2), "u1": (2.2, 2.6), "h": (4.2, 2.6),
               "w2": (4.2, 4.4), "b2": (4.2, 0.8), "u2": (6.3, 2.6), "y": (8.3, 2.6)}
        title = {"u1": "u1 = w1·x + b1", "h": "h = sigmoid(u1)", "u2": "u2 = w2·h + b2",
                 "y": "y = tanh(u2)"}
        edges = [("w1", "u1", "x"), ("x", "u1", "w1"), ("b1", "u1", "1"),
                 ("u1", "h", "h(1-h)"), ("w2", "u2", "h"), ("h", "u2", "w2"), ("b2", "u2", "1"),
                 ("u2", "y", "1-y²")]
        local_val = {"x": du1_dw1, "w1": du1_dx, "1": 1.0, "h(1-h)": dh_du1, "h": du2_dw2,
                     "w2": du2_dh, "1-y²": dy_du2}
        fig, ax = plt.subplots(figsize=(11, 5.5))
        for src, dst, lab in edges:
            (x0, y0), (x1, y1) = pos[src], pos[dst]
            ax.annotate("", xy=(x1 - 0.55, y1), xytext=(x0 + 0.55, y0),
                        arrowprops=dict(arrowstyle="->", color="0.4", lw=1.2))
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + (0.12 if y0 == y1 else 0), f"∂{dst}/∂{src} = "
                    f"{lab}\n= {local_val[lab]:+.4f}", ha="center",
                    va="bottom" if y0 == y1 else "center", fontsize=7.5, color="tab:red",
                    bbox=dict(fc="white", ec="none", alpha=0.85, pad=1))
        for k, (px, py) in pos.items():
            is_leaf = k in leaf
            ax.text(px, py, f"{title.get(k, k)}\nvalue {vals[k]:+.4f}\ndy/d{k} = {adjoint[k]:+.4f}",
                    ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round" if is_leaf else "square",
                              fc="#cfe2f3" if is_leaf else "#e8e8e8", ec="0.3"))
        ax.set_xlim(-0.8, 9.1)
        ax.set_ylim(0.2, 5.0)
        ax.axis("off")
        ax.set_title("chain rule: dy/d(leaf) = product of the red local derivatives along "
                     "the path from y\n(dy/d node values from backward(); they match the "
                     "products to 1e-12)", fontsize=10)
        fig.tight_layout()
        save(plt, fig, args, "03_chain_rule.png")
    checks.finish()


if __name__ == "__main__":
    main()
