"""settings.resolve copies inventory data without copy.deepcopy of the containers (module_utils/settings.py).

A filter gets Ansible's lazy template containers (dict and list subclasses); their __deepcopy__ also copies the
templar with every variable of the host, which cost seconds of controller CPU per filter call in site.yml. The
stand-in below is a dict/list subclass whose __deepcopy__ fails, so a copy.deepcopy on the way fails the test.
"""

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import gateway_sampling_plan
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import plain_copy, resolve


class DeepcopyRefusingDict(dict):
    def __deepcopy__(self, memo):
        raise AssertionError("copy.deepcopy of a container subclass (Ansible copies the whole templar here)")


class DeepcopyRefusingList(list):
    def __deepcopy__(self, memo):
        raise AssertionError("copy.deepcopy of a container subclass (Ansible copies the whole templar here)")


def _lazy_like():
    return DeepcopyRefusingDict({
        "services": DeepcopyRefusingList([DeepcopyRefusingDict({"service": "checkout", "latency_ms": 800})]),
        "pair": (1, DeepcopyRefusingList(["a"])),
        "name": "gateway",
    })


def test_plain_copy_gives_plain_equal_containers_and_never_deepcopies_a_subclass():
    original = _lazy_like()
    copied = plain_copy(original)
    assert copied == original
    assert type(copied) is dict and type(copied["services"]) is list and type(copied["services"][0]) is dict
    assert type(copied["pair"]) is tuple and type(copied["pair"][1]) is list


def test_plain_copy_is_deep():
    original = _lazy_like()
    copied = plain_copy(original)
    copied["services"][0]["latency_ms"] = 1
    copied["pair"][1].append("b")
    assert original["services"][0]["latency_ms"] == 800
    assert original["pair"][1] == ["a"]


def test_resolve_overlays_lazy_like_settings_without_deepcopy():
    defaults = {"services": [], "name": "x", "unused": {"k": 1}}
    resolved = resolve(DeepcopyRefusingDict({"services": _lazy_like()["services"], "name": None, "other": 1}), defaults)
    assert resolved == {"services": [{"service": "checkout", "latency_ms": 800}], "name": "x", "unused": {"k": 1}}
    resolved["unused"]["k"] = 2
    assert defaults["unused"] == {"k": 1}


def test_a_filter_built_on_resolve_takes_lazy_like_settings():
    plan = gateway_sampling_plan(DeepcopyRefusingDict({"service_objectives": DeepcopyRefusingList(
        [DeepcopyRefusingDict({"service": "checkout", "latency_ms": 800})])}))
    assert plan["sampling_percentage"] == 10


@pytest.mark.parametrize("value", ["s", 3, 2.5, True, None])
def test_scalars_come_back_equal(value):
    assert plain_copy(value) == value
