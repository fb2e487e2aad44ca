from __future__ import annotations

import pytest
import yaml

from graphkd.engine import (
    Config,
    apply_overrides,
    config_from_dict,
    config_target,
    config_to_dict,
    load_config,
    save_config,
    shipped_configs,
)

PAIRS = [
    ("resnet32x4", "resnet8x4", 0.05),
    ("vgg13", "vgg8", 0.05),
    ("wrn_40_2", "wrn_16_2", 0.05),
    ("resnet32x4", "ShuffleV2", 0.01),
    ("vgg13", "MobileNetV2", 0.01),
]


@pytest.mark.parametrize("teacher, student, lr", PAIRS)
def test_cifar100_configs_follow_the_standard_protocol(teacher, student, lr):
    config = load_config(f"cifar100_{teacher}_{student}")
    assert (config.model.teacher, config.model.student) == (teacher, student)
    assert config.data.dataset == "cifar100" and config.data.batch_size == 64
    assert config.optim.epochs == 240 and config.optim.milestones == [150, 180, 210]
    assert config.optim.lr == lr and config.optim.momentum == 0.9
    assert config.optim.weight_decay == 5e-4 and config.optim.gamma == 0.1


def test_every_shipped_config_loads_and_names_valid_networks_and_options():
    from graphkd.distill.methods import method_arguments
    from graphkd.models import parse_network

    names = shipped_configs()
    assert {
        "fashion_mnist",
        "fashion_mnist_protocol",
        "fashion_mnist_protocol_teacher",
        "cifar100_resnet32x4_resnet8x4_mhgd",
    } <= set(names)
    for name in names:
        config = load_config(name)
        parse_network(config.model.teacher), parse_network(config.model.student)
        options = config.method.options
        if config.method.name != "ce":  # cross-entropy alone has no options
            assert method_arguments(config.method.name, options) == options, name


@pytest.mark.parametrize("pair", ["resnet34_resnet18", "resnet50_mobilenet_v2"])
@pytest.mark.parametrize("method", ["kd", "dist", "lskd", "vrm", "hkd_kd"])
def test_imagenet_recipes_use_the_standard_schedule(pair, method):
    config = load_config(f"imagenet_{pair}_{method}")
    assert config.data.dataset == "image_folder" and config.data.batch_size == 256
    assert config.optim.epochs == 100 and config.optim.milestones == [30, 60, 90]
    assert (config.optim.lr, config.optim.weight_decay, config.optim.gamma) == (0.1, 1e-4, 0.1)
    assert config.model.teacher.endswith(":IMAGENET1K_V1") and config.method.name == method


#: The ConvNet-to-ViT recipes (VRM paper, Table 3), on Li et al.'s set-up, not the protocol.
VIT_RECIPES = [name for name in shipped_configs() if name.startswith("cifar100_vit_")]
RECIPES = [
    name
    for name in shipped_configs()
    if name.startswith("cifar100_") and config_target(name) and name not in VIT_RECIPES
]


def test_recipes_cover_the_papers_pairs():
    methods = {name.split("_")[1] for name in RECIPES}
    assert {"hkd", "vrm", "lskd", "dist", "sp", "cc"} <= methods
    assert len([n for n in RECIPES if n.startswith("cifar100_hkd_kd_")]) == 5
    assert "cifar100_lskd_vgg13_vgg8" in RECIPES


#: Methods whose reference implementation trains with another schedule than the
#: standard protocol, and why (their recipes follow the reference).
OWN_SCHEDULES = {
    "mlkd": "its reference's configs: lr 0.025, or 480/960 epochs for the small students",
    "fsp": "RepDistiller's 30 initialisation epochs before the 240 of distillation",
}
#: How a target line says that no CIFAR-100 number is published for the pair.
UNPUBLISHED = ("none published", "no CIFAR-100 top-1 verified")


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_follows_the_protocol_and_its_method_accepts_the_options(name):
    import inspect

    from graphkd import list_methods
    from graphkd.distill.methods import METHODS

    config = load_config(name)
    method = config.method.name
    assert name == f"cifar100_{method}_{config.model.teacher}_{config.model.student}"
    assert method in list_methods()
    accepted = inspect.signature(METHODS.get(method)).parameters
    assert set(config.method.options) <= set(accepted)
    small = config.model.student in ("MobileNetV2", "ShuffleV1", "ShuffleV2")
    if method not in OWN_SCHEDULES:
        assert config.optim.lr == (0.01 if small else 0.05)
        assert config.optim.epochs == 240 and config.optim.milestones == [150, 180, 210]
    assert config.data.batch_size == 64 and config.optim.weight_decay == 5e-4
    assert config.run.output == f"runs/cifar100_{config.model.teacher}_{config.model.student}"
    target = config_target(name)
    assert " top-1 on CIFAR-100 (" in target or target.startswith(UNPUBLISHED)


def test_lskd_recipes_carry_the_per_pair_temperature():
    assert load_config("cifar100_lskd_vgg13_vgg8").method.options == {
        "temperature": 3.0,
        "weight": 9.0,
    }
    assert load_config("cifar100_lskd_resnet32x4_resnet8x4").method.options == {}
    assert load_config("cifar100_lskd_ResNet50_MobileNetV2").method.options["weight"] == 1.0


def test_mhgd_recipe_follows_the_reference_schedule():
    """40 attention + 100 transfer epochs, lr x0.1 at 70/100/120 from the start of stage 1."""
    config = load_config("cifar100_resnet32x4_resnet8x4_mhgd")
    stage1 = config.method.options["stage1_epochs"]
    assert config.method.name == "mhgd" and stage1 == 40 and config.optim.epochs == 100
    assert [stage1 + milestone for milestone in config.optim.milestones] == [70, 100, 120]
    assert config.optim.lr == 0.1 and config.optim.nesterov and config.optim.momentum == 0.9
    assert config.data.batch_size == 128 and config.optim.weight_decay == 5e-4


def test_overrides_are_parsed_as_yaml():
    config = apply_overrides(
        Config(),
        [
            "optim.lr=0.01",
            "optim.milestones=[5, 8]",
            "run.amp=true",
            "data.root=null",
            "method.options.temperature=2",
            "optim.weight_decay=1",
        ],
    )
    assert config.optim.lr == 0.01 and config.optim.milestones == [5, 8]
    assert config.run.amp is True and config.data.root is None
    assert config.method.options == {"temperature": 2}
    assert isinstance(config.optim.weight_decay, float)


@pytest.mark.parametrize(
    "override, named",
    [
        ("optim.learning_rate=0.1", "optim.learning_rate"),
        ("trainer.epochs=3", "trainer.epochs"),
        ("optim.lr.x=1", "optim.lr.x"),
    ],
)
def test_unknown_override_key_names_it_and_the_valid_ones(override, named):
    with pytest.raises(ValueError) as error:
        apply_overrides(Config(), [override])
    assert repr(named) in str(error.value)
    if named.startswith("optim.learning"):
        assert "lr, milestones, min_lr, momentum" in str(error.value)
    if named.startswith("trainer"):
        assert "data, method, model, optim, run" in str(error.value)


def test_unknown_yaml_key_is_an_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  dataset: fashion_mnist\n  batchsize: 3\n")
    with pytest.raises(ValueError, match="'data.batchsize'.*batch_size"):
        load_config(path)


def test_wrong_type_and_malformed_override_are_errors():
    with pytest.raises(ValueError, match="optim.epochs must be an int like 240"):
        apply_overrides(Config(), ["optim.epochs=many"])
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(Config(), ["optim.lr"])
    with pytest.raises(ValueError, match="neither a file nor a shipped config"):
        load_config("no_such_config")


def test_saved_config_round_trips(tmp_path):
    config = apply_overrides(Config(), ["optim.lr=0.2", "method.name=rkd", "run.seed=7"])
    save_config(config, tmp_path / "config.yaml")
    values = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert values == config_to_dict(config)
    assert config_from_dict(values) == config
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    "override", ["data.subset=0", "data.test_subset=0", "data.limit_batches=0", "data.workers=-1"]
)
def test_sizes_below_their_minimum_are_errors(override):
    key = override.split("=")[0]
    with pytest.raises(ValueError, match=f"{key} must be at least"):
        apply_overrides(Config(), [override])


def test_malformed_yaml_and_python_tags_name_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim:\n  lr: [0.1\n")
    with pytest.raises(ValueError, match=r"broken.yaml line 3, column 1 is not valid YAML"):
        load_config(broken)
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("run:\n  output: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ValueError, match=r"tagged.yaml line 2.*python tag is never executed"):
        load_config(tagged)
    with pytest.raises(ValueError, match="override 'optim.lr=!!python/name:os.system'"):
        apply_overrides(Config(), ["optim.lr=!!python/name:os.system"])


def test_every_shipped_config_downloads_missing_data():
    for name in shipped_configs():
        assert load_config(name).data.download is True, name


def test_milestones_beyond_the_epochs_are_noted_not_refused():
    from graphkd.engine.config import milestones_beyond_epochs

    config = load_config("fashion_mnist", ["optim.epochs=10", "optim.milestones=[5, 20]"])
    note = milestones_beyond_epochs(config.optim)
    assert "optim.milestones [20] lie beyond optim.epochs 10" in note and "--epochs" in note
    assert milestones_beyond_epochs(load_config("fashion_mnist").optim) is None


#: Table 3 of the VRM paper: (method, student) -> the published top-1.
VIT_TARGETS = {
    ("vrm", "deit_tiny"): ("79.52", "timm:deit_tiny_patch16_224", "DeiT-Ti"),
    ("kd", "deit_tiny"): ("73.25", "timm:deit_tiny_patch16_224", "DeiT-Ti"),
    ("vrm", "pit_ti"): ("79.25", "timm:pit_ti_224", "PiT-Ti"),
    ("kd", "pit_ti"): ("75.47", "timm:pit_ti_224", "PiT-Ti"),
}


def test_the_vit_recipes_are_table_3s_students_and_the_teacher():
    expected = {f"cifar100_vit_{m}_resnet56_{s}" for m, s in VIT_TARGETS}
    assert set(VIT_RECIPES) == expected | {"cifar100_vit_teacher_resnet56"}


@pytest.mark.parametrize("method, student", sorted(VIT_TARGETS))
def test_a_vit_recipe_follows_li_et_als_set_up_and_cites_table_3(method, student):
    from graphkd.models import parse_network

    top1, network, label = VIT_TARGETS[method, student]
    name = f"cifar100_vit_{method}_resnet56_{student}"
    config = load_config(name)
    assert config_target(name) == (
        f"{method.upper()} {top1} top-1 on CIFAR-100 (VRM paper, Table 3: ResNet56 -> {label})"
    )
    assert (config.method.name, config.method.options) == (method, {})
    assert (config.model.teacher, config.model.student) == ("resnet56", network)
    parse_network(network)
    assert config.model.network_options == {
        "resnet56": {"input_size": 32, "input_interpolation": "bilinear"},
        network: {"input_size": 224, "drop_path_rate": 0.1},
    }
    assert config.model.teacher_checkpoint == "runs/cifar100_vit_resnet56/teacher/model.pt"
    data = config.data
    assert (data.dataset, data.augmentation, data.image_size, data.batch_size) == (
        "cifar100",
        "timm",
        224,
        128,
    )
    optim = config.optim
    assert (optim.optimizer, optim.schedule, optim.epochs) == ("adamw", "cosine", 300)
    assert (optim.lr, optim.min_lr, optim.warmup_epochs, optim.warmup_lr) == (
        5e-4,
        5e-6,
        20,
        5e-7,
    )
    assert optim.weight_decay == 0.05 and not optim.decay_all_parameters
    assert config.run.output == f"runs/cifar100_vit_resnet56_{student}"


def test_the_vit_teacher_recipe_trains_resnet56_at_32_pixels():
    config = load_config("cifar100_vit_teacher_resnet56")
    assert config_target("cifar100_vit_teacher_resnet56") is None
    assert config.model.teacher == "resnet56" and config.method.name == "ce"
    assert (config.data.augmentation, config.data.image_size, config.data.batch_size) == (
        "timm",
        None,
        128,
    )
    optim = config.optim
    assert (optim.optimizer, optim.lr, optim.momentum, optim.nesterov) == ("sgd", 0.1, 0.9, True)
    assert (optim.schedule, optim.epochs, optim.min_lr, optim.warmup_epochs) == (
        "cosine",
        300,
        0.0,
        0,
    )
    assert optim.weight_decay == 5e-4 and not optim.decay_all_parameters
    assert config.run.output == "runs/cifar100_vit_resnet56"


@pytest.mark.parametrize("student", ["deit_tiny", "pit_ti"])
def test_a_vit_recipes_networks_take_their_inputs(student):
    """The recipe's student at 224 pixels and its teacher on the same batch, at 32."""
    pytest.importorskip("timm")
    import torch

    from graphkd.engine.run_models import build_model

    config = load_config(f"cifar100_vit_vrm_resnet56_{student}")
    images = torch.randn(1, 3, 224, 224)
    for name in (config.model.student, config.model.teacher):
        options = config.model.network_options[name]
        network = build_model(name, "cifar100", None, config.data.image_size, options).eval()
        with torch.no_grad():
            assert network(images).shape == (1, 100), name
