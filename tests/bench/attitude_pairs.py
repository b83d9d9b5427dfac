"""Training pairs for questions about what someone expects, believes, hopes or fears
(session 25). The news quiz and SQuAD questions the ranker learns from almost never ask
them (6 of 1,341 training questions), while readers of analysis ask little else ("What
does Japan expect from Sochi?"). Made from the training weeks' own articles: a sentence
whose subject states an attitude ("Officials in Washington believe that the app could...")
becomes the answer to a question with another verb of its kind ("What do officials in
Washington assume?"), sometimes about a name from the sentences around it; its negatives
are the article's other sentences that share the subject's or the name's words, one other
sentence, and another article's attitude sentence (the verb alone does not answer).

Articles in any validation week's results are left out; realtimeqa-dev is never read.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import answer_data as data

KINDS = {  # an attitude's kind: the verbs a question may ask it with
    "belief": ["expect", "believe", "assume", "think", "anticipate", "predict"],
    "hope": ["hope", "want", "expect"],
    "fear": ["fear", "worry about"],
}
# every form of the verbs a sentence may state an attitude with: (kind, the auxiliary)
FORMS: dict[str, tuple[str, str]] = {}
for _kind, _verbs in (("belief", KINDS["belief"]), ("hope", ["hope"]), ("fear", ["fear", "worry"])):
    for _v in _verbs:
        _past = {"think": "thought", "fear": "feared", "worry": "worried", "hope": "hoped"}.get(_v, _v + ("d" if _v.endswith("e") else "ed"))
        for _form, _aux in ((_v, "do"), ({"worry": "worries"}.get(_v, _v + "s"), "does"), (_past, "did")):
            FORMS[_form] = (_kind, _aux)
_VERB = "|".join(sorted(FORMS, key=len, reverse=True))
ATTITUDE = re.compile(
    rf"^(?P<subj>[A-Z][\w’'.-]*(?:\s+[\w’'.-]+){{0,4}}?)\s+(?:also\s+|now\s+|still\s+)?(?P<verb>{_VERB})\s+(?:that\s+)?(?P<rest>\S.*)$"
)
NOT_SUBJECT = {
    "is", "are", "was", "were", "has", "have", "had", "not", "also", "said", "says", "say", "to", "do", "does", "did",
    "really", "came", "come", "will", "would", "can", "could", "may", "might", "should", "but", "and", "who", "that",
    "which", "when", "if", "as", "being", "been", "be", "never", "still", "now", "just", "he", "she", "they", "we",
}
OPENERS = {
    "how", "what", "why", "where", "who", "which", "but", "and", "so", "if", "when", "as", "while", "because",
    "although", "however", "yet", "still", "now", "then", "also",
}
PRONOUNS = {"he", "she", "they", "it", "we", "i", "you", "this", "that", "there", "some", "many", "most", "others", "one", "both", "who"}
NOT_OPENING = {"despite", "let", "here", "don", "after", "before", "with", "in", "on", "for"}
CONNECT = {"of", "in", "at", "for", "and", "the", "from", "on"}
NOT_NAME = {
    "The", "This", "That", "These", "Those", "But", "And", "It", "In", "On", "At", "For", "With", "As", "A", "An", "He",
    "She", "They", "We", "You", "His", "Her", "Their", "Our", "Its", "Some", "Many", "Most", "Mr", "Ms", "Mrs", "Dr",
    "If", "When", "After", "Though", "However", "Still", "Yet", "So", "Now", "Then",
}
NAME = re.compile(r"\b[A-Z][a-z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")


def subject_of(sentence: str):
    """(subject, verb form) when the sentence opens with a noun phrase stating an
    attitude, else None."""
    m = ATTITUDE.match(sentence)
    if not m or len(m.group("rest").split()) < 6 or len(sentence.split()) > 60:
        return None
    subj, verb = m.group("subj"), m.group("verb")
    words = subj.split()
    if words[0].lower() in PRONOUNS | OPENERS | NOT_OPENING or subj.endswith(",") or len(words) > 5:
        return None
    if any(w.lower().strip(",.") in NOT_SUBJECT for w in words) or any(c in subj for c in "’'\""):
        return None
    # after the first word: names, connectors or plural nouns ("officials in Washington")
    if any(w[0].islower() and w not in CONNECT and not w.endswith("s") for w in words[1:]):
        return None
    # "thought out", "assumed office": only with a clause
    if verb in ("think", "thinks", "thought", "assume", "assumes", "assumed") and not re.match(rf"{verb}\s+that\b", sentence[m.start("verb"):]):
        return None
    return subj, verb


def words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text)}


def attitude_pairs(folder: Path, train_prefixes: tuple[str, ...], rng: random.Random) -> tuple[list[dict], list[tuple[str, str]]]:
    """(pairs, a sample of (question, answer) to show) from the articles of the training
    questions' results, none of which is in a validation question's results."""
    questions = data.load_jsonl(folder / "questions.jsonl")
    validating = {a for q in questions if not q["id"].startswith(train_prefixes) for a in q["results"]}
    training = {a for q in questions if q["id"].startswith(train_prefixes) for a in q["results"]} - validating
    articles = {r["id"]: r for r in data.load_jsonl(folder / "corpus.jsonl") if r["id"] in training}
    pool, items, asked = [], [], set()
    for aid, article in articles.items():
        sents = [s.text for s in data.article_sentences(aid, article["text"])]
        names = Counter(m.group() for s in sents for m in NAME.finditer(s) if m.start() > 0 and m.group().split()[0] not in NOT_NAME)
        lowercase = {w for t in sents for w in re.findall(r"\b[a-z]\w+", t)}
        for i, s in enumerate(sents):
            found = subject_of(s)
            if found is None:
                continue
            subj, verb = found
            kind, aux = FORMS[verb]
            pool.append((aid, s))
            asked_verb = rng.choice(KINDS[kind])
            near = " ".join(sents[max(0, i - 3) : i + 4])
            names_near = [n for n, c in names.items() if c >= 2 and n in near and n not in s and n not in subj and (" " in n or c >= 3)]
            topic = ""
            if names_near and rng.random() < 0.5:
                topic = f" {rng.choice(['about', 'from', 'of'])} {rng.choice(names_near)}"
            # "Officials" opens the sentence; the article writes it "officials" elsewhere
            subject = subj[0].lower() + subj[1:] if subj.split()[0].lower() in lowercase else subj
            question = f"What {aux} {subject} {asked_verb}{topic}?"
            if question in asked:
                continue
            asked.add(question)
            shared = {w for w in words_of(subj) | words_of(topic) if len(w) > 3}
            hard = [t for j, t in enumerate(sents) if j != i and shared & words_of(t) and 5 <= len(t.split()) <= 60]
            rng.shuffle(hard)
            rest = [t for j, t in enumerate(sents) if j != i and t not in hard and 5 <= len(t.split()) <= 60]
            items.append((question, s, hard[:4] + rng.sample(rest, min(1, len(rest))), aid))
    pairs = []
    for question, answer, negatives, aid in items:
        other = rng.choice([s for a, s in pool if a != aid])
        pairs.append({"question": question, "text": answer, "label": 1})
        pairs += [{"question": question, "text": t, "label": 0} for t in [*negatives, other]]
    return pairs, [(q, a) for q, a, _, _ in items]
