"""Small deterministic tasks of every type, made by the package itself.

They exist so that tests, grading and the offline demo never need a download, and so that a tiny
model can learn them in seconds: each task has a simple rule a 2-layer BERT can pick up (the answer
follows a relation word, sentiment is the majority of polar words, ...). The same seed always gives
the same examples, on every machine.
"""
from __future__ import annotations

import random

NAMES = ["anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "kira", "leo"]
CITIES = ["paris", "berlin", "rome", "madrid", "oslo", "vienna", "lisbon", "prague", "new york", "buenos aires"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
THINGS = ["car", "bike", "boat", "house", "lamp", "chair", "kite", "guitar"]
FOODS = ["apples", "bread", "cheese", "rice", "soup", "pasta", "fish", "cake"]
FILLERS = [
    "the weather is mild today .",
    "the river runs through the valley .",
    "many people walk in the park .",
    "the museum opens at nine .",
    "a train leaves every hour .",
]
POSITIVE = ["good", "great", "lovely", "excellent", "happy", "wonderful"]
NEGATIVE = ["bad", "awful", "poor", "terrible", "sad", "boring"]
NEUTRAL = ["the", "film", "was", "plot", "actors", "and", "music", "story", "quite", "really"]

# (relation sentence, question, slot that holds the answer); slots: name, city, color, thing, food
QA_RELATIONS = {
    "lives": ("{name} lives in {city} .", "where does {name} live ?", "city"),
    "color": ("the {thing} of {name} is {color} .", "what color is the {thing} of {name} ?", "color"),
    "owns": ("{name} owns a {thing} .", "what does {name} own ?", "thing"),
    "eats": ("{name} likes to eat {food} .", "what does {name} like to eat ?", "food"),
    "visits": ("{name} visited {city} last year .", "which city did {name} visit ?", "city"),
}
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# Topic classification: which kind of thing a sentence is about (the relation sentences' own words only)
TOPICS = {"food": [QA_RELATIONS["eats"][0]], "place": [QA_RELATIONS["lives"][0], QA_RELATIONS["visits"][0]],
          "object": [QA_RELATIONS["owns"][0], QA_RELATIONS["color"][0]]}


def _words(*groups) -> set[str]:
    return {w for group in groups for phrase in group for w in phrase.replace("{", " ").replace("}", " ").split()}


GENERATED_WORDS = sorted(
    _words(NAMES, CITIES, COLORS, THINGS, FOODS, FILLERS, POSITIVE, NEGATIVE, NEUTRAL)
    | _words([r[0] for r in QA_RELATIONS.values()], [r[1] for r in QA_RELATIONS.values()])
    | {"yes", "no", "same", "different", "lives", "in", "likes", "near"}
)


def _fill(rng: random.Random) -> dict[str, str]:
    return {
        "name": rng.choice(NAMES),
        "city": rng.choice(CITIES),
        "color": rng.choice(COLORS),
        "thing": rng.choice(THINGS),
        "food": rng.choice(FOODS),
    }


def qa_examples(n: int, seed: int, relations: tuple[str, ...] = ("lives", "color", "owns"), prefix: str = "gqa") -> list[dict]:
    """SQuAD-layout examples: a passage of filler and relation sentences, one of which answers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        sentences = rng.sample(FILLERS, 2)
        asked = rng.choice(relations)
        slots = _fill(rng)
        relation_sentences = [QA_RELATIONS[asked][0].format(**slots)]
        for other in rng.sample([r for r in relations if r != asked], min(2, len(relations) - 1)):
            relation_sentences.append(QA_RELATIONS[other][0].format(**_fill(rng)))
        parts = sentences + relation_sentences
        rng.shuffle(parts)
        context = " ".join(parts)
        answer = slots[QA_RELATIONS[asked][2]]
        sentence_start = context.index(relation_sentences[0])
        start = context.index(answer, sentence_start)
        rows.append(
            {
                "id": f"{prefix}-{seed}-{i}",
                "title": f"{prefix}-doc-{i % 7}",
                "context": context,
                "question": QA_RELATIONS[asked][1].format(**slots),
                "answers": {"text": [answer], "answer_start": [start]},
            }
        )
    return rows


def sentiment_examples(n: int, seed: int) -> list[dict]:
    """One-text classification: the label is the majority polarity of the polar words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randrange(2)
        major, minor = (POSITIVE, NEGATIVE) if label == 1 else (NEGATIVE, POSITIVE)
        words = rng.choices(NEUTRAL, k=rng.randint(3, 7)) + rng.choices(major, k=2) + rng.choices(minor, k=rng.randint(0, 1))
        rng.shuffle(words)
        rows.append({"id": f"gsent-{seed}-{i}", "text": " ".join(words) + " .", "label": label})
    return rows


def pair_examples(n: int, seed: int) -> list[dict]:
    """Two-text classification: does the second sentence put the person in the same city?"""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        slots = _fill(rng)
        same = rng.randrange(2)
        city2 = slots["city"] if same else rng.choice([c for c in CITIES if c != slots["city"]])
        rows.append(
            {
                "id": f"gpair-{seed}-{i}",
                "text": f"{slots['name']} lives in {slots['city']} .",
                "text_pair": f"{slots['name']} visited {city2} last year .",
                "label": same,
            }
        )
    return rows


def similarity_examples(n: int, seed: int) -> list[dict]:
    """Two-text regression: the score (0-5) is the share of shared slot words, like STS-B's scale."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = _fill(rng), _fill(rng)
        keys = ["name", "thing", "color"]
        shared = rng.randint(0, 3)
        for k in keys[:shared]:
            b[k] = a[k]
        template = QA_RELATIONS["color"][0]
        score = 5.0 * sum(a[k] == b[k] for k in keys) / len(keys)
        rows.append({"id": f"gsim-{seed}-{i}", "text": template.format(**a), "text_pair": template.format(**b), "label": score})
    return rows


def topic_examples(n: int, seed: int) -> list[dict]:
    """One-text classification into three topics (food, place, object): a relation sentence of the topic,
    with a filler sentence before or after it."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    rows = []
    for i in range(n):
        label = rng.randrange(len(topics))
        sentence = rng.choice(TOPICS[topics[label]]).format(**_fill(rng))
        filler = rng.choice(FILLERS)
        text = f"{filler} {sentence}" if rng.randrange(2) else f"{sentence} {filler}"
        rows.append({"id": f"gtopic-{seed}-{i}", "text": text, "label": label})
    return rows


def tagging_examples(n: int, seed: int) -> list[dict]:
    """BIO tagging of person names and (possibly two-word) city names."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        slots = _fill(rng)
        template = rng.choice(["{name} lives in {city} .", "{name} visited {city} last year .", "the {thing} of {name} is {color} ."])
        tokens, tags = [], []
        for piece in template.split():
            if piece in ("{name}", "{city}"):
                kind = "PER" if piece == "{name}" else "LOC"
                words = slots[piece[1:-1]].split()
                tokens += words
                tags += [TAGS.index(f"B-{kind}")] + [TAGS.index(f"I-{kind}")] * (len(words) - 1)
            else:
                tokens += piece.format(**slots).split()
                tags += [0] * len(piece.format(**slots).split())
        rows.append({"id": f"gtag-{seed}-{i}", "tokens": tokens, "tags": tags})
    return rows
