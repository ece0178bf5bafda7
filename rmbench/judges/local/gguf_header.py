"""Loading a GGUF checkpoint through transformers without parsing its header three times.

``from_pretrained(..., gguf_file=...)`` reads the file's metadata once for the config, once for
the tokenizer and once more for the weights, each time with a new ``gguf.GGUFReader``, which walks
every vocabulary string in Python (about 4 s for a 49k vocabulary here). While the weights are
mapped it also builds gguf's tensor-name table once per module of the model (397 times for a
30-layer model), though the table depends only on the architecture and the layer count.

``parse_once()`` lets one load share both: readers are kept per (path, mode, size, mtime) and
name tables per (architecture, layers) for the length of the ``with`` block, then dropped. The
results are the objects transformers would have built (both are only read by their callers), so
the loaded model and tokenizer are unchanged; loading SmolLM2-135M's GGUF drops from about 19 s to
about 7 s of CPU (bench/RESULTS.md). Without the gguf package this does nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.RLock()   # the patch is process-wide: one GGUF load at a time


@contextmanager
def parse_once() -> Iterator[dict[str, int]]:
    """Within the block, equal GGUF readers and tensor-name tables are built once. Yields counts
    of what was built (``readers``, ``name_maps``) and of what was reused (``reused``)."""
    try:
        import gguf
    except ImportError:
        gguf = None
    if gguf is None:   # outside the except: an error in the block must not read as caused by this
        yield {"readers": 0, "name_maps": 0, "reused": 0}
        return
    with _LOCK:
        counts = {"readers": 0, "name_maps": 0, "reused": 0}
        readers: dict[tuple, Any] = {}
        tables: dict[tuple, Any] = {}
        make_reader, make_table = gguf.GGUFReader, gguf.get_tensor_name_map

        def reader(path, mode="r"):
            if mode != "r":   # only read-only readers are shared
                counts["readers"] += 1
                return make_reader(path, mode)
            st = os.stat(path)
            key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
            if key in readers:
                counts["reused"] += 1
            else:
                counts["readers"] += 1
                readers[key] = make_reader(path, mode)
            return readers[key]

        def name_table(arch, n_blocks):
            key = (arch, n_blocks)
            if key not in tables:
                counts["name_maps"] += 1
                tables[key] = make_table(arch, n_blocks)
            else:
                counts["reused"] += 1
            return tables[key]

        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_table
        try:
            yield counts
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = make_reader, make_table
            readers.clear()
            tables.clear()
