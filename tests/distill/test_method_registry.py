"""The method registry's checks of options, and methods named ``module:factory``."""

from __future__ import annotations

import inspect
import sys

import pytest

import graphkd
from graphkd.distill import METHODS, check_method_options, import_method
from graphkd.distill.method_registry import preset


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match="method 'kd' has no option 'alpha'; its options: "):
        graphkd.create_method("kd", alpha=0.5)
    message = "its options: temperature, weight, ce_weight"
    with pytest.raises(ValueError, match=message):
        check_method_options("kd", {"alpha": 0.5})


def test_options_are_converted_or_refused_by_their_declared_type():
    converted = check_method_options("vrm", {"alpha": 64, "metric": "mse", "num_classes": None})
    assert converted == {"alpha": 64.0, "metric": "mse", "num_classes": None}
    assert isinstance(converted["alpha"], float)
    assert check_method_options("vrm", {"num_classes": 10}) == {"num_classes": 10}
    for key, value, kind in [
        ("alpha", "abc", "a float like 128.0"),
        ("alpha", True, "a float like 128.0"),
        ("adaptor", "yes", "a bool like True"),
        ("num_classes", 2.5, "an int"),
        ("metric", 3, "a str like 'mse'"),
    ]:
        with pytest.raises(ValueError, match=f"option '{key}' of method 'vrm' must be {kind}"):
            check_method_options("vrm", {key: value})
    # the preset receives the converted value
    option = graphkd.create_method("kd", temperature=2).terms[0].options["tau"]
    assert option == 2.0 and isinstance(option, float)


def test_a_method_named_module_colon_factory_is_imported_and_registered(tmp_path, monkeypatch):
    (tmp_path / "my_methods.py").write_text(
        "import graphkd\n\n"
        "def soft_kd(temperature: float = 2.0):\n"
        "    return graphkd.create_method('kd', temperature=temperature)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "my_methods:soft_kd"
    try:
        assert import_method(name) == name and name in graphkd.list_methods()
        distiller = graphkd.create_method(name, temperature=3)
        assert distiller.terms[0].options == {"tau": 3.0}
        with pytest.raises(ValueError, match="has no option 'beta'; its options: temperature"):
            graphkd.create_method(name, beta=1)
    finally:
        METHODS._factories.pop(name, None)
        sys.modules.pop("my_methods", None)
    with pytest.raises(ValueError, match="cannot import 'nowhere_module'"):
        import_method("nowhere_module:f")
    with pytest.raises(ValueError, match="has no function 'missing'"):
        import_method("graphkd.distill.methods:missing")


class _Scaled:
    def __init__(self, factor: float = 1.0, offset: float = 0.0, check_inputs: bool = True):
        self.factor, self.offset, self.check_inputs = factor, offset, check_inputs


def test_preset_factory_takes_its_class_options_with_its_own_defaults():
    @preset(_Scaled, factor=2.0)
    def doubled() -> _Scaled:
        """Documentation only."""

    parameters = inspect.signature(doubled).parameters
    assert [(p.name, p.default, p.annotation) for p in parameters.values()] == [
        ("factor", 2.0, float),
        ("offset", 0.0, float),
        ("check_inputs", True, bool),
    ]
    assert inspect.signature(doubled).return_annotation is _Scaled
    assert doubled.__name__ == "doubled" and doubled.__doc__ == "Documentation only."
    made = doubled(3.0, check_inputs=False)
    assert (made.factor, made.offset, made.check_inputs) == (3.0, 0.0, False)
    assert doubled().factor == 2.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'scale'"):
        doubled(scale=1.0)
    with pytest.raises(TypeError, match="_Scaled takes no option scale"):
        preset(_Scaled, scale=1.0)


def test_registered_presets_take_their_class_options():
    """A preset built with :func:`preset` offers exactly its distiller's options, checked
    and converted like any factory's."""
    factory = METHODS.get("dkd")
    constructor = inspect.signature(type(factory())).parameters
    assert list(inspect.signature(factory).parameters) == list(constructor)
    assert check_method_options("dkd", {"beta": 2}) == {"beta": 2.0}
    assert graphkd.create_method("dkd", beta=2).beta == 2.0
    with pytest.raises(ValueError, match="method 'dkd' has no option 'gamma'; its options: alpha"):
        graphkd.create_method("dkd", gamma=1.0)


class _Family:
    def __init__(self, name: str, *, weight: float = 1.0, check_inputs: bool = True):
        self.name, self.weight, self.check_inputs = name, weight, check_inputs


class _Member(_Family):
    def __init__(self, power: float = 2.0, **options):
        super().__init__("member", **options)
        self.power = power


def test_preset_passes_a_base_class_options_on_through_double_star_options():
    @preset(_Member, weight=3.0)
    def member() -> _Member:
        """Documentation only."""

    parameters = inspect.signature(member).parameters
    assert [(p.name, p.default, p.kind.name) for p in parameters.values()] == [
        ("power", 2.0, "POSITIONAL_OR_KEYWORD"),
        ("weight", 3.0, "KEYWORD_ONLY"),
        ("check_inputs", True, "KEYWORD_ONLY"),
    ]
    made = member(4.0, check_inputs=False)
    assert (made.name, made.power, made.weight, made.check_inputs) == ("member", 4.0, 3.0, False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'name'"):
        member(name="other")  # the base's positional parameters are the class's to fill
