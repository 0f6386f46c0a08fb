"""Triton kernels with the signatures of the torch functions in kernels/ (the references they are
tested against). Importing a module here imports triton: on a machine without a GPU, set
``TRITON_INTERPRET=1`` before that import to run the kernels in Triton's interpreter.

Fused multiply-add contraction stays on (Triton 3.9's default, which warns that the default will
change): set ``TRITON_DEFAULT_FP_FUSION=0`` to compile without it."""
import os

os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
