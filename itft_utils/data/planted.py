"""Generated tasks whose relatedness is planted, so that the lecture's transfer effects show on a CPU
with the tiny model, and the truth about which source should help is known (issue 35).

One small world: a passage states four facts about a person (where they live, what they eat, which
city they visited, what they own), one sentence each, in random order. The planted structure is in
what each task asks and by which rule its answer is found:

* the **target** (``plant_qa``) asks where the person lives and what they eat. The passage also names a
  visited city, so where someone lives is not found by the answer's type alone: the question's relation
  must be matched with its sentence's (what they eat is: a passage names one food);
* the **related** source (``plant_related``) is the target's task, rule and all, in the other half of
  the world's names, cities, foods and things: it shares the rule, not the words;
* the **conflicting** source (``plant_conflict``) asks the target's questions about the target's own
  passages but answers by another rule (:data:`CONFLICT`: where someone lives -> what they own, what
  they eat -> the city they visited): the same words, the opposite mapping;
* the **surface** source (``plant_surface``) classifies the target's passages by the order of two
  sentences, and the **tagging** source (``plant_tagging``) marks each fact word's type: the same words,
  none of the rule (TextEmb's trap: similar text, no help).

``share`` dials between the two rules: each example follows the target's rule with probability
``share`` and the conflicting one otherwise. :data:`PLANTED` states the construction; the transfers it
produces are measured (``bench/planted_family.py``, RESULTS section 12).
"""
from __future__ import annotations

import random

from .generated import CITIES, FOODS, NAMES, THINGS

#: relation -> (fact sentence, question, the slot that answers it)
RELATIONS = {
    "lives": ("{p} lives in {city} .", "where does {p} live ?", "city"),
    "eats": ("{p} likes to eat {food} .", "what does {p} like to eat ?", "food"),
    "visits": ("{p} visited {city} last year .", "which city did {p} visit ?", "city"),
    "owns": ("{p} owns a {thing} .", "what does {p} own ?", "thing"),
}
SLOTS = {"city": CITIES, "food": FOODS, "thing": THINGS}
TARGET_RELATIONS = ("lives", "eats")
#: The conflicting rule: the fact that answers each question instead (of another type, so that its
#: answers cannot be right by accident).
CONFLICT = {"lives": "owns", "eats": "visits"}
#: Tag names of the tagging source: the slot type of each fact word.
SLOT_TAGS = ["O", "B-CITY", "I-CITY", "B-FOOD", "B-THING"]
#: What each source shares with the target, by construction. What that does to the target is measured, not
#: stated here (RESULTS section 12: the related source helps, the conflicting one and the tagger hurt).
PLANTED = {
    "plant_related": {"rule": "the target's", "words": "other"},
    "plant_surface": {"rule": "none", "words": "the target's"},
    "plant_tagging": {"rule": "answer types only", "words": "the target's"},
    "plant_conflict": {"rule": "the opposite mapping", "words": "the target's"},
}


#: The two halves of the world's names and values: the target lives in 0, the related source in 1.
WORLDS = [{k: values[world::2] for k, values in (("name", NAMES), *SLOTS.items())} for world in (0, 1)]


def _passage(rng: random.Random, world: int = 0) -> tuple[str, dict[str, str], list[str]]:
    """A person, one fact per relation (the two cities differ) and the passage's sentences, shuffled,
    drawn from half ``world`` of :data:`WORLDS`."""
    half = WORLDS[world]
    name = rng.choice(half["name"])
    city, visited = rng.sample(half["city"], 2)
    facts = {"lives": city, "visits": visited, "eats": rng.choice(half["food"]), "owns": rng.choice(half["thing"])}
    sentences = [RELATIONS[rel][0].format(p=name, **{RELATIONS[rel][2]: value}) for rel, value in facts.items()]
    rng.shuffle(sentences)
    return name, facts, sentences


def planted_qa(n: int, seed: int, relations: tuple[str, ...] = TARGET_RELATIONS, share: float = 1.0,
               world: int = 0, prefix: str = "plant") -> list[dict]:
    """SQuAD-layout examples asking ``relations``. With probability ``share`` the asked fact answers
    (the target's rule); otherwise the fact :data:`CONFLICT` names (the conflicting rule)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, facts, sentences = _passage(rng, world)
        asked = rng.choice(relations)
        answering = asked if rng.random() < share else CONFLICT[asked]
        context = " ".join(sentences)
        fact = RELATIONS[answering][0].format(p=name, **{RELATIONS[answering][2]: facts[answering]})
        start = context.index(fact) + fact.index(facts[answering], len(name))
        rows.append({"id": f"{prefix}-{seed}-{i}", "title": f"{prefix}-doc-{i % 7}", "context": context,
                     "question": RELATIONS[asked][1].format(p=name),
                     "answers": {"text": [facts[answering]], "answer_start": [start]}})
    return rows


def planted_surface(n: int, seed: int) -> list[dict]:
    """Classification over the target's passages: does the sentence about food come before the one about
    the thing owned? The words are the target's; the rule has nothing to do with its questions."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        _, _, sentences = _passage(rng)
        order = [next(j for j, sentence in enumerate(sentences) if marker in sentence) for marker in (" eat ", " owns ")]
        rows.append({"id": f"plant-surface-{seed}-{i}", "text": " ".join(sentences), "label": int(order[0] < order[1])})
    return rows


def planted_tagging(n: int, seed: int) -> list[dict]:
    """Tag each fact word of a passage with its type (city, food, thing)."""
    rng = random.Random(seed)
    rows = []
    slot_of = {v: slot for slot, values in SLOTS.items() for v in values}
    for i in range(n):
        _, _, sentences = _passage(rng)
        tokens, tags = [], []
        for sentence in sentences:
            words = sentence.split()
            j = 0
            while j < len(words):
                pair = " ".join(words[j:j + 2])
                if pair in slot_of:  # a two-word city
                    tokens += words[j:j + 2]
                    tags += [SLOT_TAGS.index("B-CITY"), SLOT_TAGS.index("I-CITY")]
                    j += 2
                    continue
                slot = slot_of.get(words[j])
                tokens.append(words[j])
                tags.append(SLOT_TAGS.index(f"B-{slot.upper()}") if slot else 0)
                j += 1
        rows.append({"id": f"plant-tag-{seed}-{i}", "tokens": tokens, "tags": tags})
    return rows
