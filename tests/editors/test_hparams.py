"""Hyper-parameters: one type check driven by the dataclass fields, defaults in the dataclass only,
family files chosen by architecture family, layer indices checked against the model at load."""

from __future__ import annotations

import dataclasses

import pytest
import transformers
import yaml

from kedit.editors import EDITORS, load_hparams
from kedit.editors import hparams as hparams_mod
from kedit.editors.ft_l import FTLHyperParams
from kedit.editors.hparams import HPARAMS_DIR, HyperParams, HyperParamTypeError
from kedit.editors.ike import IKEHyperParams
from kedit.editors.rome import ROMEHyperParams
from kedit.errors import KeditError, RunError, UnknownNameError
from kedit.models.roles import FAMILIES, family_of

EDITOR_HPARAMS = {name: EDITORS.get(name).hparams_cls for name in EDITORS.names()}  # every registered editor


def tiny(config_class: str, n_layers: int = 2):
    """A random 2-layer, 32-wide model of the given config class (built from its config: no download)."""
    config = getattr(transformers, config_class)(
        num_hidden_layers=n_layers, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=64, max_position_embeddings=64,
    )
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def test_every_editor_uses_the_one_type_check():
    for name in EDITORS.names():
        cls = EDITORS.get(name).hparams_cls
        assert issubclass(cls, HyperParams) and cls.editor == name
        assert cls.__post_init__ is HyperParams.__post_init__  # no editor coerces types on its own


def test_string_numbers_are_coerced_once(monkeypatch):
    calls: list[object] = []
    coerce = hparams_mod._coerce

    def counting(hint, value):
        calls.append(value)
        return coerce(hint, value)

    monkeypatch.setattr(hparams_mod, "_coerce", counting)
    hp = load_hparams(FTLHyperParams, "ft-l", None, {"lr": "5e-4", "num_steps": "1e1", "layers": "3"})
    assert hp.lr == 5e-4 and type(hp.lr) is float
    assert hp.num_steps == 10 and type(hp.num_steps) is int
    assert hp.layers == (3,)
    assert calls.count("5e-4") == 1  # one pass over the fields, not one in the loader and one in the class
    # YAML 1.1 reads "5e-4" in a file as a string: the same path coerces it
    assert yaml.safe_load("lr: 5e-4")["lr"] == "5e-4"
    assert FTLHyperParams(lr="5e-4").lr == 5e-4
    rome = load_hparams(ROMEHyperParams, "rome", None, {"context_template_length_params": "[[5, 5], [10, 5]]", "mom2_adjustment": "false"})
    assert rome.context_template_length_params == ((5, 5), (10, 5)) and rome.mom2_adjustment is False
    # a string field keeps the override's text as written
    assert load_hparams(IKEHyperParams, "ike", None, {"demos": "2024"}).demos == "2024"


@pytest.mark.parametrize(
    "cls, editor, key, value, expected",
    [
        (FTLHyperParams, "ft-l", "num_steps", "many", "an integer"),
        (FTLHyperParams, "ft-l", "num_steps", 2.5, "an integer"),
        (FTLHyperParams, "ft-l", "lr", True, "a number"),
        (FTLHyperParams, "ft-l", "norm_constraint", "wide", "a number or null"),
        (FTLHyperParams, "ft-l", "layers", ["top"], r"a list like \[integer, ...\]"),
        (ROMEHyperParams, "rome", "mom2_adjustment", 1, "true or false"),
        (ROMEHyperParams, "rome", "context_template_length_params", [5, 10], r"a list like \[\[integer, integer\], ...\]"),
        (IKEHyperParams, "ike", "k", True, "an integer"),
        (IKEHyperParams, "ike", "sentence_model", 3, "a string"),
    ],
)
def test_a_wrong_type_names_the_editor_the_key_and_the_type(cls, editor, key, value, expected):
    with pytest.raises(HyperParamTypeError, match=f"--hparam {editor}.{key}: {editor}: hyper-parameter '{key}' must be {expected}, got"):
        load_hparams(cls, editor, None, {key: value})
    with pytest.raises(HyperParamTypeError, match=f"^{editor}: hyper-parameter '{key}' must be {expected}"):
        cls(**{key: value})  # built directly: the same check


def test_method_checks_stay_in_the_dataclass():
    with pytest.raises(KeditError, match="objective must be one of"):
        FTLHyperParams(objective="full")
    with pytest.raises(KeditError, match="norm_constraint must be > 0"):
        load_hparams(FTLHyperParams, "ft-l", None, {"norm_constraint": "-1e-3"})
    with pytest.raises(KeditError, match="k must be >= 0"):
        IKEHyperParams(k=-1)
    assert FTLHyperParams(norm_constraint=False).norm_constraint is None  # false: unconstrained
    assert dataclasses.replace(FTLHyperParams(), lr="1e-2").lr == 1e-2


def test_unknown_key_says_did_you_mean(tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown hyper-parameter 'kk'; did you mean 'k'\?.*ike, from --hparam ike.kk"):
        load_hparams(IKEHyperParams, "ike", None, {"kk": 3})
    with pytest.raises(KeditError, match="did you mean 'mom2_n_samples'"):
        load_hparams(ROMEHyperParams, "rome", None, {"mom2_n_sample": 3})


@pytest.mark.parametrize("config_class", ["MistralConfig", "Qwen2Config", "Qwen3Config", "LlamaConfig"])
def test_llama_family_configs_get_the_llama_file(config_class):
    model = tiny(config_class)
    assert family_of(model) == family_of(model.config) == "llama"
    llama = yaml.safe_load((HPARAMS_DIR / "rome" / "llama.yaml").read_text())
    rome = load_hparams(ROMEHyperParams, "rome", model, {"layer": 1})  # llama.yaml's layer 5 needs 6 layers
    assert rome.v_weight_decay == llama["v_weight_decay"] == 1e-3
    assert rome.context_template_length_params == ((5, 5), (10, 5))
    assert rome.mom2_n_samples == 2000
    ftl = load_hparams(FTLHyperParams, "ft-l", model, {"layers": [-1]})
    assert (ftl.lr, ftl.num_steps, ftl.norm_constraint) == (5e-3, 10, 6e-3)


def test_gpt2_family_gets_the_gpt2_file():
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=32, vocab_size=64))
    assert family_of(model) == "gpt2"
    rome = load_hparams(ROMEHyperParams, "rome", model, {"layer": 0})
    assert (rome.mom2_n_samples, rome.mom2_max_tokens, rome.v_weight_decay) == (10000, 1024, 0.5)
    assert load_hparams(FTLHyperParams, "ft-l", model) == FTLHyperParams()  # no gpt2 file for ft-l


def test_a_layer_out_of_range_fails_at_load():
    model = tiny("MistralConfig")
    with pytest.raises(RunError, match=r"ft-l: hyper-parameter 'layers' = \[25\] \(from .*ft-l/llama.yaml\) is out of range "
                                       r"for this model, which has 2 layers \(valid: 0..1, or -2..-1 counted from the top\); "
                                       r"choose a layer with --hparam ft-l.layers=\[1\]"):
        load_hparams(FTLHyperParams, "ft-l", model)
    with pytest.raises(RunError, match=r"rome: hyper-parameter 'layer' = 5 .*2 layers \(valid: 0..1\).*--hparam rome.layer=1"):
        load_hparams(ROMEHyperParams, "rome", model)
    with pytest.raises(RunError, match=r"'layer' = -1 \(from --hparam rome.layer\)"):  # ROME counts from the bottom only
        load_hparams(ROMEHyperParams, "rome", model, {"layer": -1})
    with pytest.raises(RunError, match=r"'layers' = \[0, -3\]"):
        load_hparams(FTLHyperParams, "ft-l", model, {"layers": [0, -3]})
    assert load_hparams(FTLHyperParams, "ft-l", model, {"layers": [0, -2]}).layers == (0, -2)
    # without a model nothing is known about its layers
    assert load_hparams(FTLHyperParams, "ft-l", None, {"layers": [25]}).layers == (25,)


def test_defaults_come_from_the_dataclass_only():
    assert not list(HPARAMS_DIR.glob("*/default.yaml"))
    for name, cls in EDITOR_HPARAMS.items():
        assert load_hparams(cls, name, None) == cls()
    defaults = {name: dataclasses.asdict(cls()) for name, cls in EDITOR_HPARAMS.items()}
    for f in HPARAMS_DIR.glob("*/*.yaml"):
        editor, family = f.parent.name, f.stem
        assert editor in EDITORS.names(), f
        assert family in FAMILIES, f"{f}: not a family of kedit.models.roles.FAMILIES"
        cls = EDITOR_HPARAMS[editor]
        data = yaml.safe_load(f.read_text())
        assert isinstance(data.pop("tuned_for", None), dict), f"{f}: say what it was tuned on (tuned_for)"
        for key, value in data.items():
            coerced = getattr(cls(**{key: value}), key)
            assert coerced != defaults[editor][key], f"{f}: '{key}' repeats the dataclass default"


def test_a_family_file_tuned_on_another_shape_warns_once(caplog):
    """SmolLM2's Llama-family values are not applied silently to a Llama of another shape."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from kedit.editors.ft_l import FTLHyperParams

    model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=28, hidden_size=64, intermediate_size=128,
                                         num_attention_heads=4, num_key_value_heads=4, vocab_size=100))
    with caplog.at_level("WARNING", logger="kedit.editors.hparams"):
        load_hparams(FTLHyperParams, "ft-l", model)
        load_hparams(FTLHyperParams, "ft-l", model)
    warned = [r.getMessage() for r in caplog.records if "tuned for SmolLM2-135M" in r.getMessage()]
    assert len(warned) == 1 and "28 layers" in warned[0] and "--hparam ft-l.KEY=VALUE" in warned[0]
    caplog.clear()
    other = LlamaForCausalLM(LlamaConfig(num_hidden_layers=27, hidden_size=64, intermediate_size=128,
                                         num_attention_heads=4, num_key_value_heads=4, vocab_size=100))
    with caplog.at_level("WARNING", logger="kedit.editors.hparams"):  # every value the file sets is overridden
        load_hparams(FTLHyperParams, "ft-l", other, {"layers": [20], "num_steps": 5, "lr": 1e-3, "norm_constraint": 1e-3})
    assert not [r for r in caplog.records if "tuned for" in r.getMessage()]
