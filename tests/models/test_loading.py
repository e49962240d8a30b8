import pytest

from kedit.errors import KeditError
from kedit.models import load_model


def test_local_folder_loads(tiny_kg):
    lm = load_model(str(tiny_kg.path))
    assert lm.fingerprint.startswith("dir:")
    assert lm.tokenizer.pad_token is not None
    assert not any(p.requires_grad for p in lm.model.parameters())


def test_unknown_builtin_says_did_you_mean():
    with pytest.raises(KeditError, match="did you mean 'smollm2-135m'"):
        load_model("smollm2-136m")


@pytest.mark.slow
def test_smollm2_builtin_tokenizer_round_trips_and_knows_paris():
    from kedit.eval.scoring import teacher_forced
    from kedit.models.builtins import ROUND_TRIP_TEXT, bpe_tokenizer_from_gguf, smollm2_gguf, tokenizer_round_trips

    lm = load_model("smollm2-135m")
    tok = lm.tokenizer
    ids = tok(ROUND_TRIP_TEXT, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == ROUND_TRIP_TEXT
    assert tokenizer_round_trips(tok)
    rebuilt = bpe_tokenizer_from_gguf(smollm2_gguf())  # the fallback gives the same ids
    assert rebuilt(ROUND_TRIP_TEXT, add_special_tokens=False)["input_ids"] == ids
    s = teacher_forced(lm.model, tok, [("The capital of France is", "Paris")])[0]
    assert s.exact


def test_hub_id_offline_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(KeditError, match="Offline"):
        load_model("kedit-tests/no-such-model")


@pytest.mark.parametrize("name", ["gpt2", "gpt2-xl", "bert-base-uncased", "EleutherAI/gpt-j-6b"])
def test_hub_ids_without_an_owner_are_hub_ids(name, monkeypatch, tmp_path):
    """The README's own `--model gpt2-xl`: tried on the Hub (offline here), not refused as a bad name."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeditError, match=f"could not load model '{name}'.*Offline"):
        load_model(name)


@pytest.mark.parametrize("name", ["./no-such-folder", "/no/such/folder", "a b c"])
def test_a_missing_folder_or_a_bad_name_is_not_sent_to_the_hub(name):
    with pytest.raises(KeditError, match="unknown model"):
        load_model(name)
