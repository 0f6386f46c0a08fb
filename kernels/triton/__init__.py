"""Triton kernels with the signatures of the torch functions in kernels/ (the references they are
tested against). Importing a module here imports triton: on a machine without a GPU, set
``TRITON_INTERPRET=1`` before that import to run the kernels in Triton's interpreter."""
