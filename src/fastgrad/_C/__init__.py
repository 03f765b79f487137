"""Compiled kernels (fastgrad._C._kernels) and their C declarations."""
