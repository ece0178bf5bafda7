"""The order tests/conftest.py gives the run under pytest-xdist's worksteal scheduler
(``front_loaded``): the modules with expensive fixtures at the head of the workers' first chunks,
each whole, a group on one worker when there are no more workers than groups, the units spread
evenly; everything collected runs exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from tests.conftest import front_loaded


@dataclass(frozen=True)
class Item:
    nodeid: str


SIZES = (("tests/a.py", 40), ("tests/h1.py", 5), ("tests/b.py", 30), ("tests/h2.py", 3), ("tests/c.py", 20),
         ("tests/h3.py", 4), ("tests/h4.py", 2))
HEAVY = {"tests/h1.py": 50, "tests/h2.py": 30, "tests/h3.py": 25, "tests/h4.py": 5}
GROUPS = (("tests/h1.py", "tests/h3.py"), ("tests/h2.py",))


def _items() -> list[Item]:
    return [Item(f"{m}::t{i}") for m, n in SIZES for i in range(n)]


def _chunks(items: list, workers: int) -> list[list]:
    """What worksteal hands each worker at the start: contiguous, sizes remaining // workers left."""
    out, start, remaining = [], 0, len(items)
    for k in range(workers):
        size = remaining // (workers - k)
        out.append(items[start:start + size])
        start, remaining = start + size, remaining - size
    return out


def _modules(chunk: list) -> list[str]:
    return [i.nodeid.split("::")[0] for i in chunk]


def _is_permutation(order: list, items: list) -> bool:
    return len(order) == len(items) and set(order) == set(items)


def test_two_workers_a_group_runs_on_one_worker_at_the_head_of_its_chunk():
    items = _items()
    order = front_loaded(items, 2, HEAVY, GROUPS)
    assert _is_permutation(order, items)
    first, second = _chunks(order, 2)
    # units by size: h1+h3 (75) to worker 0, h2 (30) to worker 1, h4 (5, in no group) to the lighter
    assert _modules(first)[:9] == ["tests/h1.py"] * 5 + ["tests/h3.py"] * 4
    assert _modules(second)[:5] == ["tests/h2.py"] * 3 + ["tests/h4.py"] * 2
    heavy = set(HEAVY)
    assert not heavy & set(_modules(first)[9:] + _modules(second)[5:])
    # each module keeps its own order; the others keep the collection's order after the heads
    assert [i for i in order if i.nodeid.startswith("tests/h3.py")] == \
        [i for i in items if i.nodeid.startswith("tests/h3.py")]
    assert [i for i in order if _modules([i])[0] not in heavy] == [i for i in items if _modules([i])[0] not in heavy]


def test_more_workers_than_groups_spread_single_modules():
    items = _items()
    order = front_loaded(items, 4, HEAVY, GROUPS)
    assert _is_permutation(order, items)
    heads = [_modules(chunk)[0] for chunk in _chunks(order, 4)]
    assert heads == ["tests/h1.py", "tests/h2.py", "tests/h3.py", "tests/h4.py"]


def test_nothing_heavy_keeps_the_collection_order():
    items = _items()
    assert front_loaded(items, 2, {}, ()) == items
    # a listed module that this run did not collect (a -k or a path) is skipped
    some = [i for i in items if not i.nodeid.startswith("tests/h1.py")]
    order = front_loaded(some, 2, HEAVY, GROUPS)
    first, second = _chunks(order, 2)
    assert _is_permutation(order, some) and _modules(first)[:3] == ["tests/h2.py"] * 3
    assert _modules(second)[:6] == ["tests/h3.py"] * 4 + ["tests/h4.py"] * 2


def test_a_group_larger_than_a_chunk_is_split_into_its_modules():
    # a run of a few tests (-k, a path): chunks of 7 and 8 cannot hold h1 and h3 (9 tests) together,
    # and kept together h3 would be cut in two by the chunk boundary
    items = [i for i in _items() if i.nodeid.split("::")[0] in ("tests/h1.py", "tests/h3.py")]
    items += [Item(f"tests/a.py::t{i}") for i in range(6)]
    order = front_loaded(items, 2, HEAVY, GROUPS)
    first, second = _chunks(order, 2)
    assert _is_permutation(order, items)
    assert _modules(first)[:5] == ["tests/h1.py"] * 5 and _modules(second)[:4] == ["tests/h3.py"] * 4
    assert "tests/h3.py" not in _modules(first)


def test_the_listed_modules_exist():
    from tests.conftest import HEAVY_GROUPS, HEAVY_MODULES, REPO

    assert all((REPO / m).is_file() for m in HEAVY_MODULES)
    assert {m for g in HEAVY_GROUPS for m in g} <= set(HEAVY_MODULES)
