"""A recorder of the ATen operations that make the host wait for a GPU: run on CPU tensors, it tells
which of them a piece of code would call on CUDA (`torch.cuda.set_sync_debug_mode` is CUDA-only).

It is a `TorchDispatchMode`, so it sees every operation, backward ones included: host reads of a
value (``.item()``, ``bool()``, ``int()``, ``float()`` all reach ``_local_scalar_dense``), and the
operations whose output size depends on the data (``nonzero``, ``masked_select``, ``unique``, a
boolean index), which must copy a count to the host before they can allocate their result.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HOST_READS = {"_local_scalar_dense", "is_nonzero", "equal", "allclose"}
DATA_DEPENDENT_SIZES = {
    "nonzero",
    "masked_select",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "repeat_interleave",  # without output_size
}
INDEXING = {"index", "index_put", "index_put_", "_index_put_impl_"}


def _has_bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(torch.is_tensor(i) and i.dtype == torch.bool for i in indices or ())


class HostSyncs(TorchDispatchMode):
    """``with HostSyncs() as syncs: ...`` then ``syncs.ops``: the syncing operations, in call order."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name.split("::")[-1]
        if name in HOST_READS or name in DATA_DEPENDENT_SIZES:
            self.ops.append(name)
        elif name in INDEXING and _has_bool_index(args):
            self.ops.append(f"{name}[bool]")
        return func(*args, **(kwargs or {}))
