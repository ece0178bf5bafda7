"""``parse_once``: one GGUF header parse per transformers load (rmbench/judges/local/gguf_header.py).

The mechanism is checked on a small GGUF file written here with gguf's own writer; the load of the
real SmolLM2 GGUF through ``hf/`` is checked to parse its header once in
tests/judges/test_llamacpp.py (the ``hf_gguf`` fixture), and its outputs there."""

from __future__ import annotations

import os

import pytest

from rmbench.judges.local.gguf_header import parse_once

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed (the hf extra)")
np = pytest.importorskip("numpy")


def _write(path, value: int):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_uint32("test.value", value)
    w.add_token_list([f"tok{i}" for i in range(50)])
    w.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _value(reader) -> int:
    field = reader.fields["test.value"]
    return int(field.parts[field.data[0]][0])


def test_one_reader_per_file_and_one_table_per_architecture_within_the_block(tmp_path):
    a, b = _write(tmp_path / "a.gguf", 1), _write(tmp_path / "b.gguf", 2)
    before_reader, before_table = gguf.GGUFReader, gguf.get_tensor_name_map
    with parse_once() as counts:
        from gguf import GGUFReader, get_tensor_name_map  # what transformers does at load time

        r1, r2, r3 = GGUFReader(a), GGUFReader(str(a)), GGUFReader(b)
        assert r1 is r2 and r1 is not r3 and (_value(r1), _value(r3)) == (1, 2)
        t1 = get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert t1 is get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert t1 is not get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 3)
        assert t1.get_name("model.layers.1.self_attn.q_proj") == "blk.1.attn_q"
        # a writable reader is never shared
        assert GGUFReader(a, "r+") is not GGUFReader(a, "r+")
        assert counts == {"readers": 4, "name_maps": 2, "reused": 2}
    # restored after the block, also after an error inside it
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (before_reader, before_table)
    with pytest.raises(RuntimeError), parse_once():
        raise RuntimeError("load failed")
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (before_reader, before_table)
    assert gguf.GGUFReader(a) is not gguf.GGUFReader(a)


def test_a_file_rewritten_within_the_block_is_parsed_again(tmp_path):
    path = _write(tmp_path / "a.gguf", 1)
    with parse_once() as counts:
        assert _value(gguf.GGUFReader(path)) == 1
        _write(tmp_path / "a.gguf", 7)
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a coarse clock's same tick
        assert _value(gguf.GGUFReader(path)) == 7
        assert counts["readers"] == 2


def test_without_gguf_the_block_runs_and_its_errors_stand_alone(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gguf", None)   # as if the package were not installed
    with parse_once() as counts:
        assert counts == {"readers": 0, "name_maps": 0, "reused": 0}
    with pytest.raises(ValueError) as err, parse_once():
        raise ValueError("the load failed")
    assert err.value.__context__ is None   # not shown as raised while handling the ImportError
