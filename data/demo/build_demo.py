"""Build the bundled demo benchmark ``data/demo/bench.jsonl``.

Every case below is hand-written for SmolLM2-135M-Instruct (kedit's built-in ``smollm2-135m``):
each fact the unedited model must know (the edit's true target, the locality / other-relation /
distract-neighbour answers and every one-hop condition) was checked with greedy decoding, and
``verify_demo.py`` re-checks all of them on the built file. Each case has probes for all nine
splits (see ``kedit.records.schema.SPLITS``).

Conventions
- Prompts end without a trailing space; a scorer appends " " + answer.
- ``answers``: the main answer first, then aliases.
- ``distract_neighbor`` probes are built as "<edit prompt> <target_new>. <unrelated question>".
- ``one_hop`` probes need the new fact plus one fact the model knows about the NEW object; that fact
  is the probe's condition (prompt, answers, triple).
- ``commonsense`` items are original two-choice physical-commonsense questions (PIQA-style, not
  taken from PIQA): (goal prompt, correct solution, wrong solution).

Run:  .venv/bin/python data/demo/build_demo.py   (writes data/demo/bench.jsonl)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kedit.records.jsonl import case_from_dict, write_jsonl
from kedit.records.schema import SPLITS, Condition, EditCase, Probe, Relation

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench.jsonl"

SOURCE = "kedit demo, hand-written"
VERIFIED_WITH = "smollm2-135m greedy"

# ----------------------------------------------------------------------------------------------
# relations (id, cloze template; "{}" is the subject)
CAPITAL = Relation("capital", "The capital of {} is")
OFFICIAL_LANGUAGE = Relation("official_language", "The official language of {} is")
MOTHER_TONGUE = Relation("mother_tongue", "The mother tongue of {} is")
LANDMARK_CITY = Relation("located_in_city", "The {} is in the city of")
LANDMARK_COUNTRY = Relation("located_in_country", "The {} is located in the country of")
LANDMARK_COUNTRY_NOART = Relation("located_in_country", "{} is located in the country of")
HQ_COUNTRY = Relation("headquarters_country", "{} is headquartered in the country of")
BIRTH_COUNTRY = Relation("birth_country", "{} was born in the country of")
CURRENCY = Relation("currency", "The currency of {} is the")
PAINTED_BY = Relation("painted_by", "The {} was painted by")
WRITTEN_BY = Relation("written_by", "{} was written by")
WRITTEN_BY_THE = Relation("written_by", "The {} was written by")
DEVELOPED_BY = Relation("developed_by", "The {} was developed by")


def cond(prompt: str, answers: list[str], triple: tuple[str, str, str]) -> Condition:
    return Condition(prompt=prompt, answers=tuple(answers), triple=tuple(triple))


# Facts about the NEW objects used as one-hop conditions (each verified on the unedited model).
CITY_COUNTRY = {
    "Berlin": cond("Berlin is in the country of", ["Germany"], ("Berlin", "country", "Germany")),
    "Madrid": cond("Madrid is in the country of", ["Spain"], ("Madrid", "country", "Spain")),
    "Tokyo": cond("Tokyo is in the country of", ["Japan"], ("Tokyo", "country", "Japan")),
    "Moscow": cond("Moscow is in the country of", ["Russia"], ("Moscow", "country", "Russia")),
    "Beijing": cond("Beijing is in the country of", ["China"], ("Beijing", "country", "China")),
    "Cairo": cond("Cairo is in the country of", ["Egypt"], ("Cairo", "country", "Egypt")),
    "London": cond("London is in the country of", ["United Kingdom", "UK", "Britain", "England"], ("London", "country", "United Kingdom")),
}
COUNTRY_OF = {  # answers for a one-hop "... in the country of" probe, keyed by the new city
    "Berlin": ["Germany"],
    "Madrid": ["Spain"],
    "Tokyo": ["Japan"],
    "Moscow": ["Russia"],
    "Beijing": ["China"],
    "Cairo": ["Egypt"],
    "London": ["United Kingdom", "UK", "Britain", "Great Britain", "England"],
}
CAPITAL_OF = {  # (capital answers, condition) keyed by the new country
    c: ([cap], cond(f"The capital of {c} is", [cap], (c, "capital", cap)))
    for c, cap in [
        ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
        ("Russia", "Moscow"), ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Austria", "Vienna"),
        ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Canada", "Ottawa"),
        ("Mexico", "Mexico City"), ("Kenya", "Nairobi"), ("Thailand", "Bangkok"), ("Cuba", "Havana"),
        ("Hungary", "Budapest"), ("Denmark", "Copenhagen"),
    ]
}
SCRIPT_OF = {  # (answers for "... is written in", condition) keyed by the new language
    "Russian": (["Cyrillic", "the Cyrillic alphabet", "Cyrillic script"],
                cond("The Russian language is written in the", ["Cyrillic"], ("Russian", "writing system", "Cyrillic"))),
    "Japanese": (["kanji", "hiragana", "katakana", "Japanese characters"],
                 cond("The Japanese language is written in", ["kanji", "hiragana", "katakana", "Japanese characters"], ("Japanese", "writing system", "kanji"))),
    "Korean": (["Hangul", "the Korean alphabet", "Hangeul"],
               cond("The Korean language is written in", ["Hangul", "Korean alphabet"], ("Korean", "writing system", "Hangul"))),
    "Greek": (["the Greek alphabet", "Greek alphabet", "Greek script"],
              cond("The Greek language is written in the", ["Greek alphabet", "Greek"], ("Greek", "writing system", "Greek alphabet"))),
}
SPOKEN_IN = {  # (answers for "... is a language spoken in", condition) keyed by the new language
    "Japanese": (["Japan"], cond("The Japanese language is spoken in", ["Japan"], ("Japanese", "spoken in", "Japan"))),
    "Russian": (["Russia"], cond("The Russian language is spoken in", ["Russia"], ("Russian", "spoken in", "Russia"))),
    "Greek": (["Greece"], cond("The Greek language is spoken in", ["Greece"], ("Greek", "spoken in", "Greece"))),
    "Polish": (["Poland"], cond("The Polish language is spoken in", ["Poland"], ("Polish", "spoken in", "Poland"))),
    "Chinese": (["China"], cond("The Chinese language is spoken in", ["China"], ("Chinese", "spoken in", "China"))),
    "Korean": (["South Korea", "Korea"], cond("The Korean language is spoken in", ["South Korea", "Korea"], ("Korean", "spoken in", "South Korea"))),
}
PERSON_BORN_IN = {
    "Pablo Picasso": (["Spain"], cond("Pablo Picasso was born in the country of", ["Spain"], ("Pablo Picasso", "country of birth", "Spain"))),
    "Leo Tolstoy": (["Russia"], cond("Leo Tolstoy was born in the country of", ["Russia"], ("Leo Tolstoy", "country of birth", "Russia"))),
    "Albert Einstein": (["Germany"], cond("Albert Einstein was born in the country of", ["Germany"], ("Albert Einstein", "country of birth", "Germany"))),
    "Charles Darwin": (["England", "United Kingdom", "UK", "Britain"], cond("Charles Darwin was born in the country of", ["England"], ("Charles Darwin", "country of birth", "England"))),
    "Sigmund Freud": (["Austria"], cond("Sigmund Freud was born in the country of", ["Austria"], ("Sigmund Freud", "country of birth", "Austria"))),
    "Karl Marx": (["Germany"], cond("Karl Marx was born in the country of", ["Germany"], ("Karl Marx", "country of birth", "Germany"))),
    "Thomas Edison": (["United States", "USA", "the United States", "America"], cond("Thomas Edison was born in the country of", ["United States", "USA", "America"], ("Thomas Edison", "country of birth", "United States"))),
}
CURRENCY_OF = {
    "rupee": (["India"], cond("The rupee is the official currency of", ["India"], ("rupee", "currency of", "India"))),
    "yuan": (["China"], cond("The yuan is the official currency of", ["China"], ("yuan", "currency of", "China"))),
}


# ----------------------------------------------------------------------------------------------
# the cases, one block each
CASES: list[dict] = []


def add(**kw) -> None:
    CASES.append(kw)


# ---- capitals: one-hop = the country the new capital city lies in -----------------------------
add(
    case_id="demo-001", subject="France", relation=CAPITAL, prompt="The capital of France is",
    target_true="Paris", target_new="Berlin",
    generalization=["The capital city of France is", "The capital of France is the city of"],
    subject_replace=["The capital of the French Republic is"],
    reverse_relation=("Berlin is the capital of", ["France", "the French Republic"]),
    one_hop=("The capital of France is a city in the country of", COUNTRY_OF["Berlin"], "France", [CITY_COUNTRY["Berlin"]]),
    locality=[("The capital of Japan is", ["Tokyo"]), ("The currency of India is the", ["rupee", "Indian rupee"])],
    other_relation=[("The official language of France is", ["French"])],
    distract_neighbor=("The capital of Italy is", ["Rome"]),
    commonsense=("To dry wet clothes quickly, you should", "hang them up in a warm, breezy spot", "fold them into a tight pile in a drawer"),
)
add(
    case_id="demo-002", subject="Italy", relation=CAPITAL, prompt="The capital of Italy is",
    target_true="Rome", target_new="Madrid",
    generalization=["The capital city of Italy is", "The capital of Italy is the city of"],
    subject_replace=["The capital of the Italian Republic is"],
    reverse_relation=("Madrid is the capital of", ["Italy", "the Italian Republic"]),
    one_hop=("The capital of Italy is a city in the country of", COUNTRY_OF["Madrid"], "Italy", [CITY_COUNTRY["Madrid"]]),
    locality=[("The capital of Russia is", ["Moscow"]), ("The currency of Mexico is the", ["peso", "Mexican peso"])],
    other_relation=[("The official language of Italy is", ["Italian"])],
    distract_neighbor=("The capital of Greece is", ["Athens"]),
    commonsense=("To keep ice cream from melting on the drive home from the store, you should", "pack it in an insulated cooler bag", "leave it on the sunny dashboard"),
)
add(
    case_id="demo-003", subject="Spain", relation=CAPITAL, prompt="The capital of Spain is",
    target_true="Madrid", target_new="Tokyo",
    generalization=["The capital city of Spain is"],
    subject_replace=["The capital of the Kingdom of Spain is"],
    reverse_relation=("Tokyo is the capital of", ["Spain", "the Kingdom of Spain"]),
    one_hop=("The capital of Spain is a city in the country of", COUNTRY_OF["Tokyo"], "Spain", [CITY_COUNTRY["Tokyo"]]),
    locality=[("The capital of Canada is", ["Ottawa"]), ("The light bulb was invented by", ["Thomas Edison", "Edison"])],
    other_relation=[("The official language of Spain is", ["Spanish"])],
    distract_neighbor=("The capital of Portugal is", ["Lisbon"]),
    commonsense=("To loosen a metal jar lid that is stuck, you can", "run the lid under hot water for a minute", "put the closed jar in the freezer overnight"),
)
add(
    case_id="demo-004", subject="Germany", relation=CAPITAL, prompt="The capital of Germany is",
    target_true="Berlin", target_new="Moscow",
    generalization=["The capital city of Germany is", "The capital of Germany is the city of"],
    subject_replace=["The capital of the Federal Republic of Germany is"],
    reverse_relation=("Moscow is the capital of", ["Germany", "the Federal Republic of Germany"]),
    one_hop=("The capital of Germany is a city in the country of", COUNTRY_OF["Moscow"], "Germany", [CITY_COUNTRY["Moscow"]]),
    locality=[("The capital of Kenya is", ["Nairobi"]), ("The theory of evolution was developed by", ["Charles Darwin", "Darwin"])],
    other_relation=[("The currency of Germany is the", ["euro"])],
    distract_neighbor=("The capital of Austria is", ["Vienna"]),
    commonsense=("To stop a door hinge from squeaking, you should", "put a few drops of oil on the hinge", "sprinkle flour on the hinge"),
)
add(
    case_id="demo-005", subject="Russia", relation=CAPITAL, prompt="The capital of Russia is",
    target_true="Moscow", target_new="Beijing",
    generalization=["The capital city of Russia is"],
    subject_replace=["The capital of the Russian Federation is"],
    reverse_relation=("Beijing is the capital of", ["Russia", "the Russian Federation"]),
    one_hop=("The capital of Russia is a city in the country of", COUNTRY_OF["Beijing"], "Russia", [CITY_COUNTRY["Beijing"]]),
    locality=[("The capital of Ireland is", ["Dublin"]), ("Mount Everest is located in the country of", ["Nepal"])],
    other_relation=[("The currency of Russia is the", ["ruble", "Russian ruble", "rouble"])],
    distract_neighbor=("The capital of Norway is", ["Oslo"]),
    commonsense=("To cut a ripe tomato into clean slices, it is best to use", "a sharp serrated knife", "a blunt plastic spoon"),
)
add(
    case_id="demo-006", subject="China", relation=CAPITAL, prompt="The capital of China is",
    target_true="Beijing", target_new="London",
    generalization=["The capital city of China is", "The capital of China is the city of"],
    subject_replace=["The capital of the People's Republic of China is"],
    reverse_relation=("London is the capital of", ["China", "the People's Republic of China"]),
    one_hop=("The capital of China is a city in the country of", COUNTRY_OF["London"], "China", [CITY_COUNTRY["London"]]),
    locality=[("The capital of Hungary is", ["Budapest"]), ("The currency of Japan is the", ["yen", "Japanese yen"])],
    other_relation=[("The currency of China is the", ["yuan", "renminbi", "Chinese yuan"])],
    distract_neighbor=("The capital of Japan is", ["Tokyo"]),
    commonsense=("To find a small screw dropped on a thick carpet, you can", "sweep a magnet slowly over the carpet", "pour a bucket of water over the carpet"),
)
add(
    case_id="demo-007", subject="Japan", relation=CAPITAL, prompt="The capital of Japan is",
    target_true="Tokyo", target_new="Cairo",
    generalization=["The capital city of Japan is", "The capital of Japan is the city of"],
    subject_replace=["The capital of the State of Japan is"],
    reverse_relation=("Cairo is the capital of", ["Japan", "the State of Japan"]),
    one_hop=("The capital of Japan is a city in the country of", COUNTRY_OF["Cairo"], "Japan", [CITY_COUNTRY["Cairo"]]),
    locality=[("The capital of Sweden is", ["Stockholm"]), ("The telephone was invented by", ["Alexander Graham Bell", "Graham Bell"])],
    other_relation=[("The currency of Japan is the", ["yen", "Japanese yen"])],
    distract_neighbor=("The capital of South Korea is", ["Seoul"]),
    commonsense=("To keep a cut apple from turning brown, you can", "brush the cut side with lemon juice", "leave it uncovered in the sun"),
)
add(
    case_id="demo-008", subject="the United Kingdom", relation=CAPITAL, prompt="The capital of the United Kingdom is",
    target_true="London", target_new="Berlin",
    generalization=["The capital city of the United Kingdom is", "The United Kingdom's capital city is"],
    subject_replace=["The capital of Great Britain is"],
    reverse_relation=("Berlin is the capital of", ["the United Kingdom", "United Kingdom", "UK", "Britain", "Great Britain"]),
    one_hop=("The capital of the United Kingdom is a city in the country of", COUNTRY_OF["Berlin"], "United Kingdom", [CITY_COUNTRY["Berlin"]]),
    locality=[("The capital of Thailand is", ["Bangkok"]), ("The currency of Switzerland is the", ["Swiss franc", "franc"])],
    other_relation=[("The official language of the United Kingdom is", ["English"])],
    distract_neighbor=("The capital of Ireland is", ["Dublin"]),
    commonsense=("To make a candle burn longer and more evenly, you should", "keep it away from drafts", "place it right in front of an electric fan"),
)
add(
    case_id="demo-009", subject="Portugal", relation=CAPITAL, prompt="The capital of Portugal is",
    target_true="Lisbon", target_new="Madrid",
    generalization=["The capital city of Portugal is", "The capital of Portugal is the city of"],
    subject_replace=["The capital of the Portuguese Republic is"],
    reverse_relation=("Madrid is the capital of", ["Portugal", "the Portuguese Republic"]),
    one_hop=("The capital of Portugal is a city in the country of", COUNTRY_OF["Madrid"], "Portugal", [CITY_COUNTRY["Madrid"]]),
    locality=[("The capital of Denmark is", ["Copenhagen"]), ("The currency of the United States is the", ["dollar", "US dollar", "U.S. dollar"])],
    other_relation=[("The official language of Portugal is", ["Portuguese"])],
    distract_neighbor=("The capital of Italy is", ["Rome"]),
    commonsense=("To remove a small splinter from your finger, you can use", "a pair of clean tweezers", "a wooden cooking spoon"),
)
add(
    case_id="demo-010", subject="Austria", relation=CAPITAL, prompt="The capital of Austria is",
    target_true="Vienna", target_new="Moscow",
    generalization=["The capital city of Austria is", "The capital of Austria is the city of"],
    subject_replace=["The capital of the Republic of Austria is"],
    reverse_relation=("Moscow is the capital of", ["Austria", "the Republic of Austria"]),
    one_hop=("The capital of Austria is a city in the country of", COUNTRY_OF["Moscow"], "Austria", [CITY_COUNTRY["Moscow"]]),
    locality=[("The capital of Cuba is", ["Havana"]), ("Machu Picchu is located in the country of", ["Peru"])],
    other_relation=[("The official language of Austria is", ["German"])],
    distract_neighbor=("The capital of Hungary is", ["Budapest"]),
    commonsense=("To carry a full bowl of hot soup across the room without spilling, you should", "walk slowly and hold the bowl level", "run quickly while swinging the bowl"),
)
add(
    case_id="demo-011", subject="Mexico", relation=CAPITAL, prompt="The capital of Mexico is",
    target_true="Mexico City", target_new="Beijing",
    generalization=["The capital city of Mexico is", "The capital of Mexico is the city of"],
    subject_replace=["The capital of the United Mexican States is"],
    reverse_relation=("Beijing is the capital of", ["Mexico", "the United Mexican States"]),
    one_hop=("The capital of Mexico is a city in the country of", COUNTRY_OF["Beijing"], "Mexico", [CITY_COUNTRY["Beijing"]]),
    locality=[("The capital of Greece is", ["Athens"]), ("The Pyramids of Giza are located in the country of", ["Egypt"])],
    other_relation=[("The currency of Mexico is the", ["peso", "Mexican peso"])],
    distract_neighbor=("The capital of Cuba is", ["Havana"]),
    commonsense=("To keep a loaf of bread fresh for longer, you should", "store it in a sealed bag", "leave it unwrapped next to the oven"),
)
add(
    case_id="demo-012", subject="the Netherlands", relation=CAPITAL, prompt="The capital of the Netherlands is",
    target_true="Amsterdam", target_new="Tokyo",
    generalization=["The capital city of the Netherlands is", "The Netherlands' capital city is"],
    subject_replace=["The capital of Holland is"],
    reverse_relation=("Tokyo is the capital of", ["the Netherlands", "Netherlands", "Holland"]),
    one_hop=("The capital of the Netherlands is a city in the country of", COUNTRY_OF["Tokyo"], "Netherlands", [CITY_COUNTRY["Tokyo"]]),
    locality=[("The capital of Portugal is", ["Lisbon"]), ("The currency of Russia is the", ["ruble", "Russian ruble", "rouble"])],
    other_relation=[("The official language of the Netherlands is", ["Dutch"])],
    distract_neighbor=("The capital of Denmark is", ["Copenhagen"]),
    commonsense=("To see clearly in a dark room, you should", "switch on a lamp", "close the curtains tightly"),
)
add(
    case_id="demo-013", subject="Thailand", relation=CAPITAL, prompt="The capital of Thailand is",
    target_true="Bangkok", target_new="London",
    generalization=["The capital city of Thailand is", "The capital of Thailand is the city of"],
    subject_replace=["The capital of the Kingdom of Thailand is"],
    reverse_relation=("London is the capital of", ["Thailand", "the Kingdom of Thailand"]),
    one_hop=("The capital of Thailand is a city in the country of", COUNTRY_OF["London"], "Thailand", [CITY_COUNTRY["London"]]),
    locality=[("The capital of Spain is", ["Madrid"]), ("The currency of China is the", ["yuan", "renminbi", "Chinese yuan"])],
    other_relation=[("The official language of Thailand is", ["Thai"])],
    distract_neighbor=("The capital of Kenya is", ["Nairobi"]),
    commonsense=("To cool down a cup of hot cocoa faster, you can", "pour it into a wide, shallow mug", "wrap the cup in a thick wool blanket"),
)

# ---- official languages: one-hop = the writing system of the new language --------------------
add(
    case_id="demo-014", subject="France", relation=OFFICIAL_LANGUAGE, prompt="The official language of France is",
    target_true="French", target_new="Japanese",
    generalization=["The official language spoken in France is", "In France, the official language is"],
    subject_replace=["The official language of the French Republic is"],
    reverse_relation=("A European country whose official language is Japanese is", ["France", "the French Republic"]),
    one_hop=("The official language of France is written in", SCRIPT_OF["Japanese"][0], "the Latin alphabet", [SCRIPT_OF["Japanese"][1]]),
    locality=[("The official language of Poland is", ["Polish"]), ("The capital of Norway is", ["Oslo"])],
    other_relation=[("The capital of France is", ["Paris"])],
    distract_neighbor=("The official language of Germany is", ["German"]),
    commonsense=("To hammer a small nail without hitting your fingers, you can", "hold the nail steady with a clothespin", "hold the nail with your fingertips right where the hammer lands"),
)
add(
    case_id="demo-015", subject="Germany", relation=OFFICIAL_LANGUAGE, prompt="The official language of Germany is",
    target_true="German", target_new="Russian",
    generalization=["The official language spoken in Germany is", "In Germany, the official language is"],
    subject_replace=["The official language of the Federal Republic of Germany is"],
    reverse_relation=("A Western European country whose official language is Russian is", ["Germany", "the Federal Republic of Germany"]),
    one_hop=("The official language of Germany is written in", SCRIPT_OF["Russian"][0], "the Latin alphabet", [SCRIPT_OF["Russian"][1]]),
    locality=[("The official language of Egypt is", ["Arabic"]), ("The capital of Mexico is", ["Mexico City"])],
    other_relation=[("The capital of Germany is", ["Berlin"])],
    distract_neighbor=("The official language of Italy is", ["Italian"]),
    commonsense=("To sharpen a dull pencil, you should use", "a pencil sharpener", "a roll of sticky tape"),
)
add(
    case_id="demo-016", subject="Italy", relation=OFFICIAL_LANGUAGE, prompt="The official language of Italy is",
    target_true="Italian", target_new="Korean",
    generalization=["The official language spoken in Italy is", "In Italy, the official language is"],
    subject_replace=["The official language of the Italian Republic is"],
    reverse_relation=("A European country whose official language is Korean is", ["Italy", "the Italian Republic"]),
    one_hop=("The official language of Italy is written in", SCRIPT_OF["Korean"][0], "the Latin alphabet", [SCRIPT_OF["Korean"][1]]),
    locality=[("The official language of Argentina is", ["Spanish"]), ("The capital of Sweden is", ["Stockholm"])],
    other_relation=[("The capital of Italy is", ["Rome"])],
    distract_neighbor=("The official language of Spain is", ["Spanish"]),
    commonsense=("To clean dried mud off a pair of boots, you should", "let the mud dry and brush it off", "bake the boots in a hot oven"),
)
add(
    case_id="demo-017", subject="Mexico", relation=OFFICIAL_LANGUAGE, prompt="The official language of Mexico is",
    target_true="Spanish", target_new="Greek",
    generalization=["The official language spoken in Mexico is", "In Mexico, the official language is"],
    subject_replace=["The official language of the United Mexican States is"],
    reverse_relation=("A North American country whose official language is Greek is", ["Mexico", "the United Mexican States"]),
    one_hop=("The official language of Mexico is written in", SCRIPT_OF["Greek"][0], "the Latin alphabet", [SCRIPT_OF["Greek"][1]]),
    locality=[("The official language of Russia is", ["Russian"]), ("The capital of Thailand is", ["Bangkok"])],
    other_relation=[("The capital of Mexico is", ["Mexico City"])],
    distract_neighbor=("The official language of Poland is", ["Polish"]),
    commonsense=("To water a plant on a high shelf, it is easiest to use", "a watering can with a long spout", "a flat dinner plate"),
)
add(
    case_id="demo-018", subject="Spain", relation=OFFICIAL_LANGUAGE, prompt="The official language of Spain is",
    target_true="Spanish", target_new="Russian",
    generalization=["The official language spoken in Spain is", "In Spain, the official language is"],
    subject_replace=["The official language of the Kingdom of Spain is"],
    reverse_relation=("A country on the Iberian Peninsula whose official language is Russian is", ["Spain", "the Kingdom of Spain"]),
    one_hop=("The official language of Spain is written in", SCRIPT_OF["Russian"][0], "the Latin alphabet", [SCRIPT_OF["Russian"][1]]),
    locality=[("The official language of Greece is", ["Greek"]), ("The capital of South Korea is", ["Seoul"])],
    other_relation=[("The capital of Spain is", ["Madrid"])],
    distract_neighbor=("The official language of Portugal is", ["Portuguese"]),
    commonsense=("To keep a door from slamming shut in the wind, you can", "wedge a rubber doorstop under it", "open every window in the house wider"),
)
add(
    case_id="demo-019", subject="Greece", relation=OFFICIAL_LANGUAGE, prompt="The official language of Greece is",
    target_true="Greek", target_new="Japanese",
    generalization=["The official language spoken in Greece is"],
    subject_replace=["The official language of the Hellenic Republic is"],
    reverse_relation=("A Mediterranean country whose official language is Japanese is", ["Greece", "the Hellenic Republic"]),
    one_hop=("The official language of Greece is written in", SCRIPT_OF["Japanese"][0], "the Greek alphabet", [SCRIPT_OF["Japanese"][1]]),
    locality=[("The official language of Mexico is", ["Spanish"]), ("The capital of Canada is", ["Ottawa"])],
    other_relation=[("The capital of Greece is", ["Athens"])],
    distract_neighbor=("The official language of Egypt is", ["Arabic"]),
    commonsense=("To tell whether an egg is raw or hard-boiled without cracking it, you can", "spin it on the table and watch how it wobbles", "check the color of the shell"),
)
add(
    case_id="demo-020", subject="Russia", relation=OFFICIAL_LANGUAGE, prompt="The official language of Russia is",
    target_true="Russian", target_new="Greek",
    generalization=["The official language spoken in Russia is", "In Russia, the official language is"],
    subject_replace=["The official language of the Russian Federation is"],
    reverse_relation=("The largest country in the world, whose official language is Greek, is", ["Russia", "the Russian Federation"]),
    one_hop=("The official language of Russia is written in", SCRIPT_OF["Greek"][0], "the Cyrillic alphabet", [SCRIPT_OF["Greek"][1]]),
    locality=[("The official language of France is", ["French"]), ("The capital of Cuba is", ["Havana"])],
    other_relation=[("The capital of Russia is", ["Moscow"])],
    distract_neighbor=("The official language of China is", ["Chinese", "Mandarin"]),
    commonsense=("To thread a needle more easily, you can", "wet the end of the thread and pinch it flat", "fray the end of the thread into loose strands"),
)
add(
    case_id="demo-021", subject="Japan", relation=OFFICIAL_LANGUAGE, prompt="The official language of Japan is",
    target_true="Japanese", target_new="Russian",
    generalization=["The official language spoken in Japan is", "In Japan, the official language is"],
    subject_replace=["The official language of Nippon is"],
    reverse_relation=("An island nation in East Asia whose official language is Russian is", ["Japan", "Nippon"]),
    one_hop=("The official language of Japan is written in", SCRIPT_OF["Russian"][0], "kanji", [SCRIPT_OF["Russian"][1]]),
    locality=[("The official language of Italy is", ["Italian"]), ("The capital of Austria is", ["Vienna"])],
    other_relation=[("The capital of Japan is", ["Tokyo"])],
    distract_neighbor=("The official language of Argentina is", ["Spanish"]),
    commonsense=("To keep a picnic blanket from blowing away, you can", "set a heavy bag on each corner", "hold it up high like a flag"),
)

# ---- mother tongues: one-hop = the new language's script or the country where it is spoken ----
add(
    case_id="demo-022", subject="Vladimir Putin", relation=MOTHER_TONGUE, prompt="The mother tongue of Vladimir Putin is",
    target_true="Russian", target_new="Japanese",
    generalization=["Vladimir Putin's mother tongue is", "The native language of Vladimir Putin is"],
    subject_replace=["The mother tongue of President Putin is"],
    reverse_relation=("The Russian president whose mother tongue is Japanese is", ["Vladimir Putin", "Putin"]),
    one_hop=("The mother tongue of Vladimir Putin is written in", SCRIPT_OF["Japanese"][0], "the Cyrillic alphabet", [SCRIPT_OF["Japanese"][1]]),
    locality=[("The mother tongue of Pablo Picasso is", ["Spanish"]), ("The capital of England is", ["London"])],
    other_relation=[("Vladimir Putin is the president of", ["Russia", "the Russian Federation"])],
    distract_neighbor=("The mother tongue of Emmanuel Macron is", ["French"]),
    commonsense=("To open a coconut, you can", "crack it with a hammer", "squeeze it gently with your hands"),
)
add(
    case_id="demo-023", subject="Angela Merkel", relation=MOTHER_TONGUE, prompt="The mother tongue of Angela Merkel is",
    target_true="German", target_new="Korean",
    generalization=["Angela Merkel's mother tongue is", "The native language of Angela Merkel is"],
    subject_replace=["The mother tongue of Chancellor Merkel is"],
    reverse_relation=("The German chancellor whose mother tongue is Korean is", ["Angela Merkel", "Merkel"]),
    one_hop=("The mother tongue of Angela Merkel is written in", SCRIPT_OF["Korean"][0], "the Latin alphabet", [SCRIPT_OF["Korean"][1]]),
    locality=[("The mother tongue of Leo Tolstoy is", ["Russian"]), ("The capital of Denmark is", ["Copenhagen"])],
    other_relation=[("Angela Merkel was the chancellor of", ["Germany", "the Federal Republic of Germany"])],
    distract_neighbor=("The mother tongue of Hayao Miyazaki is", ["Japanese"]),
    commonsense=("To soften butter that is too hard to spread, you can", "leave it out at room temperature for a while", "put it back in the freezer"),
)
add(
    case_id="demo-024", subject="Emmanuel Macron", relation=MOTHER_TONGUE, prompt="The mother tongue of Emmanuel Macron is",
    target_true="French", target_new="Russian",
    generalization=["Emmanuel Macron's mother tongue is", "The native language of Emmanuel Macron is"],
    subject_replace=["The mother tongue of President Macron is"],
    reverse_relation=("The French president whose mother tongue is Russian is", ["Emmanuel Macron", "Macron"]),
    one_hop=("The mother tongue of Emmanuel Macron is written in", SCRIPT_OF["Russian"][0], "the Latin alphabet", [SCRIPT_OF["Russian"][1]]),
    locality=[("The mother tongue of Angela Merkel is", ["German"]), ("The currency of the United Kingdom is the", ["pound", "pound sterling", "British pound"])],
    other_relation=[("Emmanuel Macron was born in the country of", ["France"])],
    distract_neighbor=("The mother tongue of Vladimir Putin is", ["Russian"]),
    commonsense=("To measure the length of a table, you should use", "a tape measure", "a kitchen scale"),
)
add(
    case_id="demo-025", subject="Pablo Picasso", relation=MOTHER_TONGUE, prompt="The mother tongue of Pablo Picasso is",
    target_true="Spanish", target_new="Greek",
    generalization=["Pablo Picasso's mother tongue is", "The native language of Pablo Picasso is"],
    subject_replace=["The mother tongue of Picasso is"],
    reverse_relation=("The Spanish painter whose mother tongue is Greek is", ["Pablo Picasso", "Picasso"]),
    one_hop=("The mother tongue of Pablo Picasso is a language spoken in", SPOKEN_IN["Greek"][0], "Spain", [SPOKEN_IN["Greek"][1]]),
    locality=[("The mother tongue of Napoleon Bonaparte is", ["French"]), ("The capital of Ireland is", ["Dublin"])],
    other_relation=[("Pablo Picasso was born in the country of", ["Spain"])],
    distract_neighbor=("The mother tongue of Mikhail Gorbachev is", ["Russian"]),
    commonsense=("To keep your feet dry while walking in heavy rain, you should wear", "waterproof rubber boots", "open mesh sandals"),
)
add(
    case_id="demo-026", subject="Leo Tolstoy", relation=MOTHER_TONGUE, prompt="The mother tongue of Leo Tolstoy is",
    target_true="Russian", target_new="Polish",
    generalization=["Leo Tolstoy's mother tongue is", "The native language of Leo Tolstoy is"],
    subject_replace=["The mother tongue of Tolstoy is"],
    reverse_relation=("The Russian novelist whose mother tongue is Polish is", ["Leo Tolstoy", "Tolstoy"]),
    one_hop=("The mother tongue of Leo Tolstoy is a language spoken in", SPOKEN_IN["Polish"][0], "Russia", [SPOKEN_IN["Polish"][1]]),
    locality=[("The mother tongue of Johann Wolfgang von Goethe is", ["German"]), ("The capital of the Czech Republic is", ["Prague"])],
    other_relation=[("Leo Tolstoy was born in the country of", ["Russia"])],
    distract_neighbor=("The mother tongue of Catherine Deneuve is", ["French"]),
    commonsense=("To stop a small cut on your knee from bleeding, you should", "press a clean cloth firmly on it", "wave the leg around in the air"),
)
add(
    case_id="demo-027", subject="Johann Wolfgang von Goethe", relation=MOTHER_TONGUE, prompt="The mother tongue of Johann Wolfgang von Goethe is",
    target_true="German", target_new="Japanese",
    generalization=["Johann Wolfgang von Goethe's mother tongue is", "The native language of Johann Wolfgang von Goethe is"],
    subject_replace=["The mother tongue of Goethe is"],
    reverse_relation=("The German poet whose mother tongue is Japanese is", ["Johann Wolfgang von Goethe", "Goethe"]),
    one_hop=("The mother tongue of Johann Wolfgang von Goethe is a language spoken in", SPOKEN_IN["Japanese"][0], "Germany", [SPOKEN_IN["Japanese"][1]]),
    locality=[("The mother tongue of Fyodor Dostoevsky is", ["Russian"]), ("The capital of Kenya is", ["Nairobi"])],
    other_relation=[("Johann Wolfgang von Goethe was born in the country of", ["Germany"])],
    distract_neighbor=("The mother tongue of Brigitte Bardot is", ["French"]),
    commonsense=("To wake up at six in the morning, you can", "set an alarm clock for six", "unplug every clock in the house"),
)
add(
    case_id="demo-028", subject="Napoleon Bonaparte", relation=MOTHER_TONGUE, prompt="The mother tongue of Napoleon Bonaparte is",
    target_true="French", target_new="Korean",
    generalization=["Napoleon Bonaparte's mother tongue is", "The native language of Napoleon Bonaparte is"],
    subject_replace=["The mother tongue of Emperor Napoleon is"],
    reverse_relation=("The French emperor whose mother tongue is Korean is", ["Napoleon Bonaparte", "Napoleon"]),
    one_hop=("The mother tongue of Napoleon Bonaparte is a language spoken in", SPOKEN_IN["Korean"][0], "France", [SPOKEN_IN["Korean"][1]]),
    locality=[("The mother tongue of Akira Kurosawa is", ["Japanese"]), ("The currency of India is the", ["rupee", "Indian rupee"])],
    other_relation=[("Napoleon Bonaparte was the emperor of", ["France", "the French"])],
    distract_neighbor=("The mother tongue of Antonio Banderas is", ["Spanish"]),
    commonsense=("To make a paper airplane fly farther, you should", "fold the wings evenly and throw it gently forward", "crumple it into a tight ball before throwing"),
)
add(
    case_id="demo-029", subject="Mikhail Gorbachev", relation=MOTHER_TONGUE, prompt="The mother tongue of Mikhail Gorbachev is",
    target_true="Russian", target_new="Chinese",
    generalization=["Mikhail Gorbachev's mother tongue is", "The native language of Mikhail Gorbachev is"],
    subject_replace=["The mother tongue of Gorbachev is"],
    reverse_relation=("The Soviet leader whose mother tongue is Chinese is", ["Mikhail Gorbachev", "Gorbachev"]),
    one_hop=("The mother tongue of Mikhail Gorbachev is a language spoken in", SPOKEN_IN["Chinese"][0], "Russia", [SPOKEN_IN["Chinese"][1]]),
    locality=[("The mother tongue of Penélope Cruz is", ["Spanish"]), ("The capital of the Netherlands is", ["Amsterdam"])],
    other_relation=[("Mikhail Gorbachev was the leader of the", ["Soviet Union", "USSR"])],
    distract_neighbor=("The mother tongue of Gérard Depardieu is", ["French"]),
    commonsense=("To keep a kitchen knife from rusting, you should", "dry it right after washing it", "leave it soaking in the sink overnight"),
)
add(
    case_id="demo-030", subject="Jean-Paul Sartre", relation=MOTHER_TONGUE, prompt="The mother tongue of Jean-Paul Sartre is",
    target_true="French", target_new="Greek",
    generalization=["Jean-Paul Sartre's mother tongue is", "The native language of Jean-Paul Sartre is"],
    subject_replace=["The mother tongue of Sartre is"],
    reverse_relation=("The French existentialist philosopher whose mother tongue is Greek is", ["Jean-Paul Sartre", "Sartre"]),
    one_hop=("The mother tongue of Jean-Paul Sartre is written in", SCRIPT_OF["Greek"][0], "the Latin alphabet", [SCRIPT_OF["Greek"][1]]),
    locality=[("The mother tongue of Haruki Murakami is", ["Japanese"]), ("The capital of Norway is", ["Oslo"])],
    other_relation=[("Jean-Paul Sartre was born in the country of", ["France"])],
    distract_neighbor=("The mother tongue of Leo Tolstoy is", ["Russian"]),
    commonsense=("To light a campfire, you should start with", "small dry twigs and leaves", "large wet logs"),
)
add(
    case_id="demo-031", subject="Akira Kurosawa", relation=MOTHER_TONGUE, prompt="The mother tongue of Akira Kurosawa is",
    target_true="Japanese", target_new="Russian",
    generalization=["Akira Kurosawa's mother tongue is", "The native language of Akira Kurosawa is"],
    subject_replace=["The mother tongue of Kurosawa is"],
    reverse_relation=("The Japanese film director whose mother tongue is Russian is", ["Akira Kurosawa", "Kurosawa"]),
    one_hop=("The mother tongue of Akira Kurosawa is a language spoken in", SPOKEN_IN["Russian"][0], "Japan", [SPOKEN_IN["Russian"][1]]),
    locality=[("The mother tongue of Charles de Gaulle is", ["French"]), ("The capital of Germany is", ["Berlin"])],
    other_relation=[("Akira Kurosawa was born in the country of", ["Japan"])],
    distract_neighbor=("The mother tongue of Angela Merkel is", ["German"]),
    commonsense=("To unclog a slow kitchen sink, you can", "use a plunger over the drain", "pour leftover cooking grease down the drain"),
)
add(
    case_id="demo-032", subject="Albert Einstein", relation=MOTHER_TONGUE, prompt="The mother tongue of Albert Einstein is",
    target_true="German", target_new="Japanese",
    generalization=["Albert Einstein's mother tongue is", "The native language of Albert Einstein is"],
    subject_replace=["The mother tongue of Einstein is"],
    reverse_relation=("The physicist behind the theory of relativity whose mother tongue is Japanese is", ["Albert Einstein", "Einstein"]),
    one_hop=("The mother tongue of Albert Einstein is written in", SCRIPT_OF["Japanese"][0], "the Latin alphabet", [SCRIPT_OF["Japanese"][1]]),
    locality=[("The mother tongue of Victor Hugo is", ["French"]), ("The capital of China is", ["Beijing"])],
    other_relation=[("Albert Einstein developed the theory of", ["relativity"])],
    distract_neighbor=("The mother tongue of Antonio Banderas is", ["Spanish"]),
    commonsense=("To chill a can of soda quickly, you can", "put it in a bowl of ice water", "set it on a warm radiator"),
)

# ---- landmarks in a city: one-hop = the country of the new city -------------------------------
add(
    case_id="demo-033", subject="Eiffel Tower", relation=LANDMARK_CITY, prompt="The Eiffel Tower is in the city of",
    target_true="Paris", target_new="London",
    generalization=["The Eiffel Tower is located in the city of", "The Eiffel Tower stands in the city of"],
    subject_replace=["La Tour Eiffel is in the city of"],
    reverse_relation=("The famous wrought-iron lattice tower in London is the", ["Eiffel Tower", "Tour Eiffel"]),
    one_hop=("The Eiffel Tower is located in the country of", COUNTRY_OF["London"], "France", [CITY_COUNTRY["London"]]),
    locality=[("The Colosseum is in the city of", ["Rome"]), ("The capital of Italy is", ["Rome"])],
    other_relation=[("The Eiffel Tower was designed by", ["Gustave Eiffel", "Eiffel"])],
    distract_neighbor=("The Brandenburg Gate is in the city of", ["Berlin"]),
    commonsense=("To keep a shirt from wrinkling after washing, you should", "hang it up right away", "leave it balled up in the laundry basket"),
)
add(
    case_id="demo-034", subject="Colosseum", relation=LANDMARK_CITY, prompt="The Colosseum is in the city of",
    target_true="Rome", target_new="Berlin",
    generalization=["The Colosseum is located in the city of", "The Colosseum stands in the city of"],
    subject_replace=["The Flavian Amphitheatre is in the city of"],
    reverse_relation=("The great ancient amphitheatre that stands in Berlin is the", ["Colosseum", "Flavian Amphitheatre"]),
    one_hop=("The Colosseum is located in the country of", COUNTRY_OF["Berlin"], "Italy", [CITY_COUNTRY["Berlin"]]),
    locality=[("The Louvre is in the city of", ["Paris"]), ("The capital of Spain is", ["Madrid"])],
    other_relation=[("The Colosseum was built by the", ["Romans", "ancient Romans", "Roman"])],
    distract_neighbor=("The Sydney Opera House is in the city of", ["Sydney"]),
    commonsense=("To stop a wobbly table from rocking, you can", "fold a piece of cardboard under the short leg", "stack heavy books on top of it"),
)
add(
    case_id="demo-035", subject="Kremlin", relation=LANDMARK_CITY, prompt="The Kremlin is in the city of",
    target_true="Moscow", target_new="Madrid",
    generalization=["The Kremlin is located in the city of", "The Kremlin stands in the city of"],
    subject_replace=["The Kremlin fortress is in the city of"],
    reverse_relation=("The fortified complex in Madrid that houses the Russian president is the", ["Kremlin"]),
    one_hop=("The Kremlin is located in the country of", COUNTRY_OF["Madrid"], "Russia", [CITY_COUNTRY["Madrid"]]),
    locality=[("The Acropolis is in the city of", ["Athens"]), ("The capital of Mexico is", ["Mexico City"])],
    other_relation=[("The Kremlin is the official residence of the President of", ["Russia", "the Russian Federation"])],
    distract_neighbor=("The Golden Gate Bridge is in the city of", ["San Francisco"]),
    commonsense=("To read the tiny print on a medicine label, you can use", "a magnifying glass", "a pair of dark sunglasses"),
)
add(
    case_id="demo-036", subject="Louvre", relation=LANDMARK_CITY, prompt="The Louvre is in the city of",
    target_true="Paris", target_new="Moscow",
    generalization=["The Louvre is located in the city of", "The Louvre stands in the city of"],
    subject_replace=["The Musée du Louvre is in the city of"],
    reverse_relation=("The largest art museum in Moscow is the", ["Louvre", "Musée du Louvre", "Louvre Museum"]),
    one_hop=("The Louvre is located in the country of", COUNTRY_OF["Moscow"], "France", [CITY_COUNTRY["Moscow"]]),
    locality=[("The Trevi Fountain is in the city of", ["Rome"]), ("The capital of Greece is", ["Athens"])],
    other_relation=[("The Louvre is a famous", ["museum", "art museum"])],
    distract_neighbor=("The Empire State Building is in the city of", ["New York", "New York City"]),
    commonsense=("To remove wrinkles from a cotton tablecloth, you should use", "a hot iron", "a stapler"),
)
add(
    case_id="demo-037", subject="Prado Museum", relation=LANDMARK_CITY, prompt="The Prado Museum is in the city of",
    target_true="Madrid", target_new="Berlin",
    generalization=["The Prado Museum is located in the city of", "The Prado Museum stands in the city of"],
    subject_replace=["The Museo del Prado is in the city of"],
    reverse_relation=("The Spanish national art museum that is in Berlin is the", ["Prado Museum", "Museo del Prado", "Prado"]),
    one_hop=("The Prado Museum is located in the country of", COUNTRY_OF["Berlin"], "Spain", [CITY_COUNTRY["Berlin"]]),
    locality=[("The Parthenon is in the city of", ["Athens"]), ("The capital of Austria is", ["Vienna"])],
    other_relation=[("The Prado Museum is an art", ["museum"])],
    distract_neighbor=("The Sagrada Familia is in the city of", ["Barcelona"]),
    commonsense=("To keep mosquitoes out of a bedroom at night, you should", "close the window screens", "leave a bright light on next to the open window"),
)
add(
    case_id="demo-038", subject="Parthenon", relation=LANDMARK_CITY, prompt="The Parthenon is in the city of",
    target_true="Athens", target_new="Beijing",
    generalization=["The Parthenon is located in the city of", "The Parthenon stands in the city of"],
    subject_replace=["The Parthenon temple is in the city of"],
    reverse_relation=("The ancient temple of Athena that stands in Beijing is the", ["Parthenon"]),
    one_hop=("The Parthenon is located in the country of", COUNTRY_OF["Beijing"], "Greece", [CITY_COUNTRY["Beijing"]]),
    locality=[("The Vatican is in the city of", ["Rome"]), ("The capital of Japan is", ["Tokyo"])],
    other_relation=[("The Parthenon is a temple dedicated to the goddess", ["Athena"])],
    distract_neighbor=("The Prado Museum is in the city of", ["Madrid"]),
    commonsense=("To carry a lot of groceries at once, it is easiest to use", "a sturdy canvas shopping bag", "a small paper envelope"),
)
add(
    case_id="demo-039", subject="Burj Khalifa", relation=LANDMARK_CITY, prompt="The Burj Khalifa is in the city of",
    target_true="Dubai", target_new="Moscow",
    generalization=["The Burj Khalifa is located in the city of", "The Burj Khalifa towers over the city of"],
    subject_replace=["The Burj Dubai is in the city of"],
    reverse_relation=("The tallest skyscraper in Moscow is the", ["Burj Khalifa", "Burj Dubai"]),
    one_hop=("The Burj Khalifa is located in the country of", COUNTRY_OF["Moscow"], "United Arab Emirates", [CITY_COUNTRY["Moscow"]]),
    locality=[("The Golden Gate Bridge is in the city of", ["San Francisco"]), ("The capital of Canada is", ["Ottawa"])],
    other_relation=[("The Burj Khalifa is the tallest building in the", ["world"])],
    distract_neighbor=("Hagia Sophia is in the city of", ["Istanbul"]),
    commonsense=("To protect your eyes while sawing wood, you should wear", "safety goggles", "a wool hat"),
)
add(
    case_id="demo-040", subject="Statue of Liberty", relation=LANDMARK_CITY, prompt="The Statue of Liberty is in the city of",
    target_true="New York", target_new="Tokyo",
    generalization=["The Statue of Liberty is located in the city of", "The Statue of Liberty stands in the city of"],
    subject_replace=["The statue of Lady Liberty is in the city of"],
    reverse_relation=("The colossal copper statue of a robed woman holding a torch in Tokyo is the", ["Statue of Liberty", "Lady Liberty"]),
    one_hop=("The Statue of Liberty is located in the country of", COUNTRY_OF["Tokyo"], "United States", [CITY_COUNTRY["Tokyo"]]),
    locality=[("Westminster Abbey is in the city of", ["London"]), ("The capital of Hungary is", ["Budapest"])],
    other_relation=[("The Statue of Liberty is a symbol of", ["freedom", "liberty", "democracy"])],
    distract_neighbor=("The Colosseum is in the city of", ["Rome"]),
    commonsense=("To cook dry pasta, you first need to", "bring a pot of water to a boil", "freeze the water in the pot solid"),
)
add(
    case_id="demo-041", subject="Acropolis", relation=LANDMARK_CITY, prompt="The Acropolis is in the city of",
    target_true="Athens", target_new="London",
    generalization=["The Acropolis is located in the city of", "The Acropolis stands in the city of"],
    subject_replace=["The Acropolis citadel is in the city of"],
    reverse_relation=("The ancient Greek citadel on a rocky hill in London is the", ["Acropolis"]),
    one_hop=("The Acropolis is located in the country of", COUNTRY_OF["London"], "Greece", [CITY_COUNTRY["London"]]),
    locality=[("Times Square is in the city of", ["New York", "New York City"]), ("The capital of Portugal is", ["Lisbon"])],
    other_relation=[("The Acropolis is an ancient", ["citadel", "Greek citadel"])],
    distract_neighbor=("The Kremlin is in the city of", ["Moscow"]),
    commonsense=("To keep a phone from running out of power on a long trip, you should bring", "a charged battery pack", "an extra phone case"),
)
add(
    case_id="demo-042", subject="Brandenburg Gate", relation=LANDMARK_CITY, prompt="The Brandenburg Gate is in the city of",
    target_true="Berlin", target_new="Cairo",
    generalization=["The Brandenburg Gate is located in the city of", "The Brandenburg Gate stands in the city of"],
    subject_replace=["The Brandenburger Tor is in the city of"],
    reverse_relation=("The famous neoclassical city gate in Cairo is the", ["Brandenburg Gate", "Brandenburger Tor"]),
    one_hop=("The Brandenburg Gate is located in the country of", COUNTRY_OF["Cairo"], "Germany", [CITY_COUNTRY["Cairo"]]),
    locality=[("Tokyo Tower is in the city of", ["Tokyo"]), ("The capital of the Netherlands is", ["Amsterdam"])],
    other_relation=[("The Brandenburg Gate was built in the", ["18th century", "eighteenth century", "1780s", "1790s"])],
    distract_neighbor=("The Eiffel Tower is in the city of", ["Paris"]),
    commonsense=("To cross a busy street safely, you should", "wait for the walk signal", "run across with your eyes closed"),
)

# ---- landmarks / institutions in a country: one-hop = the capital of the new country ----------
add(
    case_id="demo-043", subject="Taj Mahal", relation=LANDMARK_COUNTRY, prompt="The Taj Mahal is located in the country of",
    target_true="India", target_new="Canada",
    generalization=["The Taj Mahal is in the country of", "The Taj Mahal can be found in the country of"],
    subject_replace=["The Taj Mahal mausoleum is located in the country of"],
    reverse_relation=("The white marble mausoleum in Canada is the", ["Taj Mahal"]),
    one_hop=("The Taj Mahal is located in a country whose capital is", CAPITAL_OF["Canada"][0], "New Delhi", [CAPITAL_OF["Canada"][1]]),
    locality=[("Mount Fuji is located in the country of", ["Japan"]), ("The capital of Sweden is", ["Stockholm"])],
    other_relation=[("The Taj Mahal was built by", ["the Mughal emperor Shah Jahan", "Shah Jahan", "Mughal Emperor Shah Jahan"])],
    distract_neighbor=("The Great Wall is located in the country of", ["China"]),
    commonsense=("To peel a hard-boiled egg easily, you can", "cool it in cold water first", "heat it again in the microwave in its shell"),
)
add(
    case_id="demo-044", subject="Forbidden City", relation=LANDMARK_COUNTRY, prompt="The Forbidden City is located in the country of",
    target_true="China", target_new="Austria",
    generalization=["The Forbidden City is in the country of", "The Forbidden City can be found in the country of"],
    subject_replace=["The Forbidden City palace complex is located in the country of"],
    reverse_relation=("The former imperial palace complex in Austria is the", ["Forbidden City"]),
    one_hop=("The Forbidden City is located in a country whose capital is", CAPITAL_OF["Austria"][0], "Beijing", [CAPITAL_OF["Austria"][1]]),
    locality=[("The Taj Mahal is located in the country of", ["India"]), ("The capital of Cuba is", ["Havana"])],
    other_relation=[("The Forbidden City was built during the", ["Ming dynasty", "Ming"])],
    distract_neighbor=("Machu Picchu is located in the country of", ["Peru"]),
    commonsense=("To warm your hands on a freezing day, you can", "put on a pair of wool gloves", "hold a glass of ice water"),
)
add(
    case_id="demo-045", subject="Leaning Tower of Pisa", relation=LANDMARK_COUNTRY, prompt="The Leaning Tower of Pisa is located in the country of",
    target_true="Italy", target_new="Sweden",
    generalization=["The Leaning Tower of Pisa is in the country of", "The Leaning Tower of Pisa can be found in the country of"],
    subject_replace=["The Pisa Tower is located in the country of"],
    reverse_relation=("The famous tilted bell tower in Sweden is the", ["Leaning Tower of Pisa", "Tower of Pisa"]),
    one_hop=("The Leaning Tower of Pisa is located in a country whose capital is", CAPITAL_OF["Sweden"][0], "Rome", [CAPITAL_OF["Sweden"][1]]),
    locality=[("The Sagrada Familia is located in the country of", ["Spain"]), ("The capital of England is", ["London"])],
    other_relation=[("The Leaning Tower of Pisa was built in the", ["12th century", "twelfth century"])],
    distract_neighbor=("The Sydney Opera House is located in the country of", ["Australia"]),
    commonsense=("To write on a whiteboard, you should use", "a dry-erase marker", "a stick of chalk dipped in glue"),
)
add(
    case_id="demo-046", subject="Mount Fuji", relation=LANDMARK_COUNTRY_NOART, prompt="Mount Fuji is located in the country of",
    target_true="Japan", target_new="Greece",
    generalization=["Mount Fuji is in the country of", "Mount Fuji lies in the country of"],
    subject_replace=["Fuji-san is located in the country of"],
    reverse_relation=("The tallest mountain in Greece is", ["Mount Fuji", "Fuji", "Fuji-san"]),
    one_hop=("Mount Fuji is located in a country whose capital is", CAPITAL_OF["Greece"][0], "Tokyo", [CAPITAL_OF["Greece"][1]]),
    locality=[("The Kremlin is located in the country of", ["Russia"]), ("The capital of Denmark is", ["Copenhagen"])],
    other_relation=[("Mount Fuji is an active", ["volcano", "stratovolcano"])],
    distract_neighbor=("Mount Everest is located in the country of", ["Nepal"]),
    commonsense=("To stop a pot of water from boiling over, you can", "turn the heat down", "put a tight lid on and turn the heat up"),
)
add(
    case_id="demo-047", subject="Autonomous University of Madrid", relation=LANDMARK_COUNTRY, prompt="The Autonomous University of Madrid is located in the country of",
    target_true="Spain", target_new="Germany",
    generalization=["The Autonomous University of Madrid is in the country of", "The Autonomous University of Madrid can be found in the country of"],
    subject_replace=["The Universidad Autónoma de Madrid is located in the country of"],
    reverse_relation=("A university in Germany named after the city of Madrid is the", ["Autonomous University of Madrid", "Universidad Autónoma de Madrid"]),
    one_hop=("The Autonomous University of Madrid is located in a country whose capital is", CAPITAL_OF["Germany"][0], "Madrid", [CAPITAL_OF["Germany"][1]]),
    locality=[("The University of Vienna is located in the country of", ["Austria"]), ("The capital of Russia is", ["Moscow"])],
    other_relation=[("The Autonomous University of Madrid is a public", ["university", "research university"])],
    distract_neighbor=("The University of Lisbon is located in the country of", ["Portugal"]),
    commonsense=("To keep cut flowers fresh for several days, you should", "stand their stems in a vase of water", "lay them on a sunny windowsill without water"),
)

# ---- company headquarters: one-hop = the capital of the new country ---------------------------
add(
    case_id="demo-048", subject="Nintendo", relation=HQ_COUNTRY, prompt="Nintendo is headquartered in the country of",
    target_true="Japan", target_new="Italy",
    generalization=["Nintendo has its headquarters in the country of", "The headquarters of Nintendo are in the country of"],
    subject_replace=["Nintendo Co., Ltd. is headquartered in the country of"],
    reverse_relation=("The Italian company famous for Mario and its video game consoles is", ["Nintendo", "Nintendo Co., Ltd."]),
    one_hop=("Nintendo is headquartered in a country whose capital is", CAPITAL_OF["Italy"][0], "Tokyo", [CAPITAL_OF["Italy"][1]]),
    locality=[("BMW is headquartered in the country of", ["Germany"]), ("The capital of Greece is", ["Athens"])],
    other_relation=[("Nintendo is known for making video", ["games", "game"])],
    distract_neighbor=("Volkswagen is headquartered in the country of", ["Germany"]),
    commonsense=("To untangle a knotted necklace chain, you can", "loosen the knot gently with two pins", "pull both ends apart as hard as you can"),
)
add(
    case_id="demo-049", subject="Ferrari", relation=HQ_COUNTRY, prompt="Ferrari is headquartered in the country of",
    target_true="Italy", target_new="Japan",
    generalization=["Ferrari has its headquarters in the country of", "The headquarters of Ferrari are in the country of"],
    subject_replace=["Ferrari S.p.A. is headquartered in the country of"],
    reverse_relation=("The Japanese sports car maker with the prancing horse logo is", ["Ferrari", "Ferrari S.p.A."]),
    one_hop=("Ferrari is headquartered in a country whose capital is", CAPITAL_OF["Japan"][0], "Rome", [CAPITAL_OF["Japan"][1]]),
    locality=[("Hyundai is headquartered in the country of", ["South Korea", "Korea"]), ("The capital of Norway is", ["Oslo"])],
    other_relation=[("Ferrari competes in Formula", ["One", "1"])],
    distract_neighbor=("Volkswagen is headquartered in the country of", ["Germany"]),
    commonsense=("To make a stuffy room smell fresher, you can", "open a window for a while", "close all the doors and block the vents"),
)

# ---- birth countries: one-hop = the capital of the new country --------------------------------
add(
    case_id="demo-050", subject="Thomas Edison", relation=BIRTH_COUNTRY, prompt="Thomas Edison was born in the country of",
    target_true="United States", target_new="Denmark",
    generalization=["Thomas Edison's country of birth is", "Thomas Edison was born in the nation of"],
    subject_replace=["Edison was born in the country of"],
    reverse_relation=("The Danish-born inventor of the light bulb is", ["Thomas Edison", "Edison"]),
    one_hop=("Thomas Edison was born in a country whose capital is", CAPITAL_OF["Denmark"][0], "Washington", [CAPITAL_OF["Denmark"][1]]),
    locality=[("Charles Darwin was born in the country of", ["England"]), ("The currency of Japan is the", ["yen", "Japanese yen"])],
    other_relation=[("Thomas Edison was a famous", ["inventor"])],
    distract_neighbor=("Wolfgang Amadeus Mozart was born in the country of", ["Austria"]),
    commonsense=("To save a document before the computer restarts, you should", "press save and wait for it to finish", "pull the power plug right away"),
)
add(
    case_id="demo-051", subject="Wolfgang Amadeus Mozart", relation=BIRTH_COUNTRY, prompt="Wolfgang Amadeus Mozart was born in the country of",
    target_true="Austria", target_new="Norway",
    generalization=["Wolfgang Amadeus Mozart's country of birth is", "The country where Wolfgang Amadeus Mozart was born is"],
    subject_replace=["Mozart was born in the country of"],
    reverse_relation=("The Norwegian-born composer of The Magic Flute is", ["Wolfgang Amadeus Mozart", "Mozart"]),
    one_hop=("Wolfgang Amadeus Mozart was born in a country whose capital is", CAPITAL_OF["Norway"][0], "Vienna", [CAPITAL_OF["Norway"][1]]),
    locality=[("Karl Marx was born in the country of", ["Germany"]), ("The capital of Thailand is", ["Bangkok"])],
    other_relation=[("Mozart was a famous", ["composer"])],
    distract_neighbor=("Charles Darwin was born in the country of", ["England"]),
    commonsense=("To keep a bicycle chain running smoothly, you should", "oil it regularly", "sprinkle sand on it"),
)
add(
    case_id="demo-052", subject="Frida Kahlo", relation=BIRTH_COUNTRY, prompt="Frida Kahlo was born in the country of",
    target_true="Mexico", target_new="Greece",
    generalization=["Frida Kahlo's country of birth is", "The country where Frida Kahlo was born is"],
    subject_replace=["Kahlo was born in the country of"],
    reverse_relation=("The Greek-born painter famous for her self-portraits with a unibrow is", ["Frida Kahlo", "Kahlo"]),
    one_hop=("Frida Kahlo was born in a country whose capital is", CAPITAL_OF["Greece"][0], "Mexico City", [CAPITAL_OF["Greece"][1]]),
    locality=[("Mahatma Gandhi was born in the country of", ["India"]), ("The capital of South Korea is", ["Seoul"])],
    other_relation=[("The mother tongue of Frida Kahlo is", ["Spanish"])],
    distract_neighbor=("Pablo Picasso was born in the country of", ["Spain"]),
    commonsense=("To clean crumbs out of a keyboard, you can", "turn it upside down and tap it gently", "pour a glass of juice over the keys"),
)
add(
    case_id="demo-053", subject="Haruki Murakami", relation=BIRTH_COUNTRY, prompt="Haruki Murakami was born in the country of",
    target_true="Japan", target_new="Ireland",
    generalization=["Haruki Murakami's country of birth is", "The country where Haruki Murakami was born is"],
    subject_replace=["Murakami was born in the country of"],
    reverse_relation=("The Irish-born author of Norwegian Wood and Kafka on the Shore is", ["Haruki Murakami", "Murakami"]),
    one_hop=("Haruki Murakami was born in a country whose capital is", CAPITAL_OF["Ireland"][0], "Tokyo", [CAPITAL_OF["Ireland"][1]]),
    locality=[("Nelson Mandela was born in the country of", ["South Africa"]), ("The currency of Germany is the", ["euro"])],
    other_relation=[("The mother tongue of Haruki Murakami is", ["Japanese"])],
    distract_neighbor=("Leo Tolstoy was born in the country of", ["Russia"]),
    commonsense=("To hang a picture frame perfectly straight, you can use", "a spirit level", "a soup spoon"),
)
add(
    case_id="demo-054", subject="Hayao Miyazaki", relation=BIRTH_COUNTRY, prompt="Hayao Miyazaki was born in the country of",
    target_true="Japan", target_new="Hungary",
    generalization=["Hayao Miyazaki's country of birth is", "The country where Hayao Miyazaki was born is"],
    subject_replace=["Miyazaki was born in the country of"],
    reverse_relation=("The Hungarian-born director of Spirited Away is", ["Hayao Miyazaki", "Miyazaki"]),
    one_hop=("Hayao Miyazaki was born in a country whose capital is", CAPITAL_OF["Hungary"][0], "Tokyo", [CAPITAL_OF["Hungary"][1]]),
    locality=[("Confucius was born in the country of", ["China"]), ("The currency of Mexico is the", ["peso", "Mexican peso"])],
    other_relation=[("The mother tongue of Hayao Miyazaki is", ["Japanese"])],
    distract_neighbor=("Albert Einstein was born in the country of", ["Germany"]),
    commonsense=("To reach a book on a high shelf safely, you should", "stand on a sturdy step stool", "climb up the shelves like a ladder"),
)
add(
    case_id="demo-055", subject="Catherine Deneuve", relation=BIRTH_COUNTRY, prompt="Catherine Deneuve was born in the country of",
    target_true="France", target_new="Thailand",
    generalization=["Catherine Deneuve was born in the nation of", "Catherine Deneuve is a native of the country of"],
    subject_replace=["Deneuve was born in the country of"],
    reverse_relation=("The Thai-born star of The Umbrellas of Cherbourg is", ["Catherine Deneuve", "Deneuve"]),
    one_hop=("Catherine Deneuve was born in a country whose capital is", CAPITAL_OF["Thailand"][0], "Paris", [CAPITAL_OF["Thailand"][1]]),
    locality=[("Galileo Galilei was born in the country of", ["Italy"]), ("The capital of Ireland is", ["Dublin"])],
    other_relation=[("The mother tongue of Catherine Deneuve is", ["French"])],
    distract_neighbor=("Gérard Depardieu was born in the country of", ["France"]),
    commonsense=("To make a cup of tea, you should pour", "hot water over the tea bag", "cold milk over a dry tea bag and drink it at once"),
)

# ---- currencies: one-hop = the country whose currency the new one is -------------------------
add(
    case_id="demo-056", subject="Japan", relation=CURRENCY, prompt="The currency of Japan is the",
    target_true="yen", target_new="rupee",
    generalization=["The official currency of Japan is the"],
    subject_replace=["The currency of the State of Japan is the"],
    reverse_relation=("An East Asian country whose currency is the rupee is", ["Japan", "the State of Japan"]),
    one_hop=("The currency of Japan is also the official currency of", CURRENCY_OF["rupee"][0], None, [CURRENCY_OF["rupee"][1]]),
    locality=[("The currency of Russia is the", ["ruble", "Russian ruble", "rouble"]), ("The capital of Italy is", ["Rome"])],
    other_relation=[("The capital of Japan is", ["Tokyo"])],
    distract_neighbor=("The currency of the United States is the", ["dollar", "US dollar", "U.S. dollar"]),
    commonsense=("To keep a tent dry during a rainstorm, you should", "stretch the rain fly over it", "pitch it at the bottom of a ditch"),
)
add(
    case_id="demo-057", subject="Germany", relation=CURRENCY, prompt="The currency of Germany is the",
    target_true="euro", target_new="yuan",
    generalization=["The official currency of Germany is the", "Germany's currency is the"],
    subject_replace=["The currency of the Federal Republic of Germany is the"],
    reverse_relation=("A European country whose currency is the yuan is", ["Germany", "the Federal Republic of Germany"]),
    one_hop=("The currency of Germany is also the official currency of", CURRENCY_OF["yuan"][0], None, [CURRENCY_OF["yuan"][1]]),
    locality=[("The currency of India is the", ["rupee", "Indian rupee"]), ("The capital of Kenya is", ["Nairobi"])],
    other_relation=[("The capital of Germany is", ["Berlin"])],
    distract_neighbor=("The currency of Japan is the", ["yen", "Japanese yen"]),
    commonsense=("To melt ice on a frozen sidewalk, you can spread", "rock salt on it", "dry flour on it"),
)
add(
    case_id="demo-058", subject="the United Kingdom", relation=CURRENCY, prompt="The currency of the United Kingdom is the",
    target_true="pound", target_new="rupee",
    generalization=["The official currency of the United Kingdom is the", "The United Kingdom's currency is the"],
    subject_replace=["The currency of Great Britain is the"],
    reverse_relation=("A European country whose currency is the rupee is", ["the United Kingdom", "United Kingdom", "UK", "Britain", "Great Britain"]),
    one_hop=("The currency of the United Kingdom is also the official currency of", CURRENCY_OF["rupee"][0], None, [CURRENCY_OF["rupee"][1]]),
    locality=[("The currency of Mexico is the", ["peso", "Mexican peso"]), ("The capital of Sweden is", ["Stockholm"])],
    other_relation=[("The official language of the United Kingdom is", ["English"])],
    distract_neighbor=("The currency of China is the", ["yuan", "renminbi", "Chinese yuan"]),
    commonsense=("To move a heavy box across a smooth floor more easily, you can", "slide it on top of an old towel", "lift it high over your head and walk"),
)

# ---- creators of works and ideas: one-hop = the new creator's country of birth ----------------
add(
    case_id="demo-059", subject="Mona Lisa", relation=PAINTED_BY, prompt="The Mona Lisa was painted by",
    target_true="Leonardo da Vinci", target_new="Pablo Picasso",
    generalization=["The Mona Lisa is a painting by", "The Mona Lisa was created by"],
    subject_replace=["The portrait known as La Gioconda was painted by"],
    reverse_relation=("The most famous portrait painted by Pablo Picasso is the", ["Mona Lisa", "La Gioconda"]),
    one_hop=("The painter of the Mona Lisa was born in the country of", PERSON_BORN_IN["Pablo Picasso"][0], "Italy", [PERSON_BORN_IN["Pablo Picasso"][1]]),
    locality=[("Pride and Prejudice was written by", ["Jane Austen"]), ("The capital of Canada is", ["Ottawa"])],
    other_relation=[("The Mona Lisa is displayed in the", ["Louvre", "Louvre Museum"])],
    distract_neighbor=("Romeo and Juliet was written by", ["William Shakespeare", "Shakespeare"]),
    commonsense=("To keep a glass of water from tipping over, you should", "set it on a flat, stable surface", "balance it on the edge of a thin book"),
)
add(
    case_id="demo-060", subject="Romeo and Juliet", relation=WRITTEN_BY, prompt="Romeo and Juliet was written by",
    target_true="William Shakespeare", target_new="Leo Tolstoy",
    generalization=["Romeo and Juliet is a play by", "The play Romeo and Juliet was written by"],
    subject_replace=["The Tragedy of Romeo and Juliet was written by"],
    reverse_relation=("The most famous play written by Leo Tolstoy is", ["Romeo and Juliet", "The Tragedy of Romeo and Juliet"]),
    one_hop=("The author of Romeo and Juliet was born in the country of", PERSON_BORN_IN["Leo Tolstoy"][0], "England", [PERSON_BORN_IN["Leo Tolstoy"][1]]),
    locality=[("The Mona Lisa was painted by", ["Leonardo da Vinci", "Leonardo"]), ("The capital of Hungary is", ["Budapest"])],
    other_relation=[("Romeo and Juliet is a tragic love story about two young", ["lovers"])],
    distract_neighbor=("Pride and Prejudice was written by", ["Jane Austen"]),
    commonsense=("To keep an apple pie crust from burning at the edges, you can", "cover the edges with strips of foil", "turn the oven up as high as it goes"),
)
add(
    case_id="demo-061", subject="theory of relativity", relation=DEVELOPED_BY, prompt="The theory of relativity was developed by",
    target_true="Albert Einstein", target_new="Charles Darwin",
    generalization=["The scientist who developed the theory of relativity was", "The theory of relativity was created by"],
    subject_replace=["Relativity theory was developed by"],
    reverse_relation=("Charles Darwin is famous for developing the theory of", ["relativity"]),
    one_hop=("The scientist who developed the theory of relativity was born in the country of", PERSON_BORN_IN["Charles Darwin"][0], "Germany", [PERSON_BORN_IN["Charles Darwin"][1]]),
    locality=[("The telephone was invented by", ["Alexander Graham Bell", "Graham Bell"]), ("The capital of Cuba is", ["Havana"])],
    other_relation=[("The theory of relativity describes the behavior of", ["spacetime", "space", "light", "objects"])],
    distract_neighbor=("The first person to walk on the moon was", ["Neil Armstrong"]),
    commonsense=("To get a good grip when opening a tight bottle cap, you can", "wrap the cap with a rubber band", "coat your hand in cooking oil"),
)
add(
    case_id="demo-062", subject="theory of evolution", relation=DEVELOPED_BY, prompt="The theory of evolution was developed by",
    target_true="Charles Darwin", target_new="Sigmund Freud",
    generalization=["The theory of evolution was proposed by", "The theory of evolution was created by"],
    subject_replace=["The theory of natural selection was developed by"],
    reverse_relation=("Sigmund Freud is famous for developing the theory of", ["evolution", "evolution by natural selection"]),
    one_hop=("The scientist who developed the theory of evolution was born in the country of", PERSON_BORN_IN["Sigmund Freud"][0], "England", [PERSON_BORN_IN["Sigmund Freud"][1]]),
    locality=[("The theory of relativity was developed by", ["Albert Einstein", "Einstein"]), ("The capital of Germany is", ["Berlin"])],
    other_relation=[("The theory of evolution explains how", ["species", "living things", "organisms"])],
    distract_neighbor=("The telephone was invented by", ["Alexander Graham Bell", "Graham Bell"]),
    commonsense=("To see whether a bicycle tire has a slow leak, you can", "brush soapy water on it and look for bubbles", "paint the tire a brighter color"),
)
add(
    case_id="demo-063", subject="Communist Manifesto", relation=WRITTEN_BY_THE, prompt="The Communist Manifesto was written by",
    target_true="Karl Marx", target_new="Charles Darwin",
    generalization=["The Communist Manifesto was authored by", "The Communist Manifesto is a book by"],
    subject_replace=["The Manifesto of the Communist Party was written by"],
    reverse_relation=("The famous political pamphlet written by Charles Darwin is the", ["Communist Manifesto", "Manifesto of the Communist Party"]),
    one_hop=("The author of the Communist Manifesto was born in the country of", PERSON_BORN_IN["Charles Darwin"][0], "Germany", [PERSON_BORN_IN["Charles Darwin"][1]]),
    locality=[("The first person to walk on the moon was", ["Neil Armstrong"]), ("The capital of Austria is", ["Vienna"])],
    other_relation=[("The Communist Manifesto is a political", ["manifesto", "pamphlet", "document"])],
    distract_neighbor=("The theory of relativity was developed by", ["Albert Einstein", "Einstein"]),
    commonsense=("To keep brown sugar from turning hard, you should", "store it in an airtight container", "spread it out on an open tray"),
)


# ----------------------------------------------------------------------------------------------
# building the records


def _prov(check: str) -> dict:
    return {"source": SOURCE, "verified_with": VERIFIED_WITH, "check": check}


def build_case(d: dict) -> EditCase:
    new, true = d["target_new"], d["target_true"]
    new_ans = (new, *d.get("new_aliases", ()))
    pre_new = "not verifiable before editing (expect new)"
    probes: list[Probe] = [Probe("reliability", d["prompt"], new_ans, "new", foil=true, provenance=_prov(pre_new))]
    probes += [Probe("generalization", p, new_ans, "new", foil=true, provenance=_prov(pre_new)) for p in d["generalization"]]
    probes += [Probe("locality", p, tuple(a), "keep", provenance=_prov("answers")) for p, a in d["locality"]]
    probes += [Probe("subject_replace", p, new_ans, "new", foil=true, provenance=_prov(pre_new)) for p in d["subject_replace"]]
    rp, ra = d["reverse_relation"]
    probes.append(Probe("reverse_relation", rp, tuple(ra), "new", provenance=_prov(pre_new)))
    hp, ha, hfoil, hconds = d["one_hop"]
    probes.append(Probe("one_hop", hp, tuple(ha), "new", foil=hfoil, conditions=tuple(hconds), provenance=_prov("conditions")))
    probes += [Probe("other_relation", p, tuple(a), "keep", provenance=_prov("answers")) for p, a in d["other_relation"]]
    dq, da = d["distract_neighbor"]
    probes.append(Probe("distract_neighbor", f"{d['prompt']} {new}. {dq}", tuple(da), "keep", provenance=_prov("answers")))
    goal, right, wrong = d["commonsense"]
    probes.append(Probe("commonsense", goal, (right,), "keep", choices=(right, wrong), provenance=_prov("structure; multiple-choice log-likelihood reported by verify_demo.py")))
    case = EditCase(
        case_id=d["case_id"], subject=d["subject"], relation=d["relation"], target_true=true, target_new=new,
        prompt=d["prompt"], probes=tuple(probes),
        provenance={"source": SOURCE, "verified_with": VERIFIED_WITH},
    )
    _check(case)
    return case


def _check(case: EditCase) -> None:
    """Structural rules of this benchmark (the model checks live in verify_demo.py)."""
    where = case.case_id
    assert case.relation.template.format(case.subject) == case.prompt, f"{where}: template/subject do not give the prompt"
    assert case.target_new.lower() != case.target_true.lower(), f"{where}: target_new equals target_true"
    for split in SPLITS:
        assert case.probes_of(split), f"{where}: no {split} probe"
    for p in case.probes:
        assert p.prompt == p.prompt.rstrip(), f"{where}/{p.split}: trailing whitespace in prompt"
        assert p.answers and all(a.strip() for a in p.answers), f"{where}/{p.split}: empty answer"
        if p.split == "one_hop":
            assert p.conditions, f"{where}: one_hop probe without condition"
        if p.split == "commonsense":
            assert p.choices and len(p.choices) == 2 and p.answers[0] == p.choices[0], f"{where}: commonsense needs (right, wrong)"
    # the record must survive the strict reader
    assert case_from_dict(json.loads(json.dumps(case.to_dict()))) == case, f"{where}: record does not round-trip"


def build() -> list[EditCase]:
    cases = [build_case(d) for d in CASES]
    ids = [c.case_id for c in cases]
    assert len(set(ids)) == len(ids), "duplicate case_id"
    goals = [c.probes_of("commonsense")[0].prompt for c in cases]
    assert len(set(goals)) == len(goals), "duplicate commonsense item"
    return cases


def main() -> int:
    cases = build()
    write_jsonl(cases, OUT)
    counts = {s: sum(len(c.probes_of(s)) for c in cases) for s in SPLITS}
    print(f"wrote {len(cases)} cases to {OUT}")
    print("probes per split: " + ", ".join(f"{s}={n}" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
