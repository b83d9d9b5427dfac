"""The answer model shipped in qa/models/: it loads with onnxruntime alone, tells an
answering sentence from a non-answer, reads a short answer, and its weights load."""

from __future__ import annotations

import subprocess
import sys

import pytest

import numpy as np

from qa.ranker import (
    RANKER_FILE,
    SPAN_FILE,
    AnswerRanker,
    NO_SPAN,
    CrossEncoderOnnx,
    RankerError,
    SpanReader,
    load_combiner,
    model_files,
)

# Sentences written for this test (not from any eval set).
HAMLIN = "Damar Hamlin, a safety for the Buffalo Bills, walked out of the hospital in Cincinnati on Monday."
WEATHER = "The weather in Cincinnati was cold and grey on Monday, with light snow in the evening."


def test_shipped_files_are_small_enough_to_ship():
    for path in (*model_files(load_combiner()), SPAN_FILE):
        assert path.is_file(), f"{path} is missing"
        assert path.stat().st_size <= 25 * 2**20


def test_ranks_the_answer_above_a_sentence_on_the_same_topic():
    model = AnswerRanker().model  # as shipped: every member of the ensemble
    question = "Which team does Damar Hamlin play for?"
    answer, other = model.score([(question, HAMLIN), (question, WEATHER)])
    assert answer > other + 2  # logits: a clear margin, not a coin toss
    # the scores are cached per pair, and the cache gives the same numbers
    assert list(model.score([(question, WEATHER), (question, HAMLIN)])) == [other, answer]


def test_a_sentence_scores_the_same_whatever_is_scored_beside_it():
    # The same question over two piles must rank a sentence they share the same way.
    question = "Which team does Damar Hamlin play for?"
    long = " ".join([WEATHER] * 4)
    shipped = model_files(load_combiner())
    alone = CrossEncoderOnnx(shipped, cache_size=0).score([(question, HAMLIN)])[0]
    beside = CrossEncoderOnnx(shipped, cache_size=0).score([(question, long), (question, WEATHER), (question, HAMLIN)])[2]
    assert alone == beside


def test_an_ensemble_scores_the_mean_of_its_members_logits():
    members = model_files(load_combiner())
    pairs = [("Which team does Damar Hamlin play for?", HAMLIN), ("Which team does Damar Hamlin play for?", WEATHER)]
    each = [CrossEncoderOnnx(path, cache_size=0).score(pairs) for path in members]
    assert np.allclose(CrossEncoderOnnx(members, cache_size=0).score(pairs), np.mean(each, axis=0), atol=1e-5)


def test_reads_the_short_answer_verbatim_out_of_the_sentence():
    span, confidence = SpanReader().read("Which team does Damar Hamlin play for?", HAMLIN)
    assert span == "Buffalo Bills" and 0 < confidence <= 1
    span, _ = SpanReader().read("Where was the hospital?", HAMLIN)
    assert span == "Cincinnati"


def test_a_question_longer_than_the_reader_reads_gets_no_short_answer():
    question = "Which team does Damar Hamlin play for? " + "really " * 400
    assert SpanReader().read(question, HAMLIN) == ("", 0.0)
    assert AnswerRanker().short_answer(question, HAMLIN) == ""


def test_a_short_answer_of_another_kind_than_asked_is_never_shown():
    from qa.extractive import fits_kind

    # sure or not, a place is no answer to "when", nor a name to "how many"
    ranker = AnswerRanker(spec={**load_combiner(), "short_min_confidence": 0.0})
    when, undated = "When did Damar Hamlin leave the hospital?", HAMLIN.replace(" on Monday", "")
    assert SpanReader().read(when, undated)[0] == "Cincinnati"  # the reader's best guess...
    assert ranker.short_answer(when, undated) == ""  # ...is not shown
    assert ranker.short_answer(when, HAMLIN) == "Monday"
    assert ranker.short_answer("Where did Damar Hamlin leave the hospital?", HAMLIN) == "Cincinnati"
    assert fits_kind("When did it open?", "on Monday") and fits_kind("What year was it?", "the 1990s")
    assert fits_kind("How many titles did she win?", "nine") and not fits_kind("How many titles did she win?", "Simone Biles")
    assert fits_kind("Who won?", "1990")  # only numbers and times are checked
    # a month, not the verb: "Abe and Putin may have different expectations"
    assert fits_kind("When did Abe visit Sochi?", "May") and not fits_kind("When did Abe visit Sochi?", "may")


def test_weights_load_and_name_known_features():
    ranker = AnswerRanker()
    assert 0 < ranker.refuse_below < 1
    assert "ce" in ranker.sentence.features and "ce_best" in ranker.passage.features
    assert model_files(load_combiner())[0] == RANKER_FILE


def test_weights_may_weigh_the_span_readers_view_of_each_sentence():
    from qa.extractive import CHEAP_FEATURES, Candidate

    question = "Which team does Damar Hamlin play for?"
    spec = {**load_combiner(), "sentence": {"features": ["ce", "span"], "weights": [0.0, 1.0], "bias": 0.0}}
    ranker = AnswerRanker(spec=spec)
    cands = [Candidate(0, 0, len(t), t) for t in (WEATHER, HAMLIN)]
    cols = ranker.sentence_columns(question, question, cands, np.zeros((2, len(CHEAP_FEATURES))))
    assert cols["span"][1] > cols["span"][0] + 2  # the sentence that holds a team's name
    assert int(np.argmax(ranker.probability(cols))) == 1
    assert SpanReader().best_logit(question + " really" * 400, HAMLIN) == NO_SPAN


def test_a_refusal_combination_gets_the_columns_it_names():
    from qa.extractive import CHEAP_FEATURES, Candidate

    question = "Which team does Damar Hamlin play for?"
    refusal = {"features": ["span", "ce_context"], "weights": [1.0, 1.0], "bias": 0.0}
    ranker = AnswerRanker(spec={**load_combiner(), "refusal": refusal})
    cands = [Candidate(0, 0, len(t), t, previous=WEATHER) for t in (WEATHER, HAMLIN)]
    cols = ranker.sentence_columns(question, question, cands, np.zeros((2, len(CHEAP_FEATURES))))
    assert {"span", "ce_context"} <= set(cols)
    assert int(np.argmax(ranker.answers_probability(cols))) == 1


def test_weights_naming_a_model_outside_the_models_folder_are_refused():
    with pytest.raises(RankerError, match="malformed"):
        AnswerRanker(spec={**load_combiner(), "models": ["../../answer-ranker.onnx"]})


def test_a_damaged_model_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "answer-ranker.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(RankerError, match="cannot be loaded"):
        CrossEncoderOnnx(broken).score([("q", "t")])
    with pytest.raises(RankerError, match="missing"):
        CrossEncoderOnnx(tmp_path / "nope.onnx").score([("q", "t")])


def test_scoring_never_imports_torch():
    code = (
        "import sys; from qa.ranker import CrossEncoderOnnx, SpanReader;"
        "CrossEncoderOnnx().score([('Who?', 'Ann did it.')]); SpanReader().read('Who?', 'Ann did it.');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the short answer in front of the lead ------------------------------------------------


def test_short_answer_stands_before_the_lead_and_lead_stays_the_quote():
    from qa.answer import Answer, lead_line
    from qa.export import answer_markdown

    lead = "The 24-year-old *Buffalo* Bills player has shown [remarkable] improvement."
    answer = Answer("Which team?", lead_line(lead, "Buffalo Bills") + "\n\n> More. [2]", short="Buffalo Bills")
    assert answer.text.startswith('**Buffalo Bills**: "The 24-year-old') and answer.text.split("\n")[0].endswith('." [1]')
    assert answer.lead == lead
    markdown = answer_markdown(answer)
    # the short answer is bold; the article's own asterisks and brackets stay literal
    assert markdown.startswith("**Buffalo Bills**: ") and "\\*Buffalo\\*" in markdown and "\\[remarkable\\]" in markdown
    tricky = Answer("Q?", lead_line("It was [link](http://x) time.", "[link](http://x)"), short="[link](http://x)")
    assert "](http" not in answer_markdown(tricky).replace("\\](http", "")
    assert Answer("Q?", lead_line("Plain lead.")).lead == "Plain lead."
