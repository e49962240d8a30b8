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


CLASSIC = [("The Eiffel Tower is located in the city of", "Paris"), ("The mother tongue of Danielle Darrieux is", "French"),
           ("The currency of Japan is the", "yen"), ("The capital of Germany is", "Berlin"),
           ("The iPhone is made by", "Apple"), ("Albert Einstein was a", "physicist"),
           ("The Colosseum is in the city of", "Rome"), ("The largest ocean on Earth is the", "Pacific"),
           ("William Shakespeare was born in", "Stratford"), ("The chemical symbol for gold is", "Au")]


@pytest.mark.slow
def test_gemma3_builtin_round_trips_and_knows_classic_facts():
    """The second built-in: assembled from its chunk packages, converted once, a Gemma3 model whose
    tokenizer round-trips (with its BOS), and which knows classic facts (8 of these 10, teacher-forced
    exact; SmolLM2 knows 8 of them too)."""
    from kedit.eval.scoring import teacher_forced
    from kedit.models import family_of
    from kedit.models.builtins import tokenizer_round_trips

    lm = load_model("gemma3-270m")
    assert type(lm.model).__name__ == "Gemma3ForCausalLM" and family_of(lm.model) == "gemma3"
    assert lm.fingerprint.startswith("builtin:gemma3-270m:") and tokenizer_round_trips(lm.tokenizer)
    assert lm.tokenizer("Paris")["input_ids"][0] == lm.tokenizer.bos_token_id  # prompts start with BOS
    assert sum(s.exact for s in teacher_forced(lm.model, lm.tokenizer, CLASSIC)) >= 7


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
