"""`qa eval` on a small set in the ../shared/eval format, written by the test."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SEED, run_qa


def write_set(folder):
    paragraphs = [p for p in SEED.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    folder.mkdir()
    with (folder / "corpus.jsonl").open("w") as out:
        for n, text in enumerate(paragraphs):
            out.write(json.dumps({"id": f"p{n}", "title": f"Part {n}", "text": text, "date": "2016-05-01", "url": None, "source": "EDM"}) + "\n")
    questions = [
        {"id": "q1", "question": "What do Japanese authorities assume about Russia's economic crisis and the Kurile Islands?",
         "answers": ["South Kurile Islands"], "gold_articles": ["p1"], "history": [], "answerable": True, "date": "2016-05-01"},
        {"id": "q2", "question": "Which system did the United States plan to deploy in South Korea?",
         "answers": ["THAAD"], "gold_articles": ["p2"], "history": [], "answerable": True, "date": "2016-05-01"},
        {"id": "q3", "question": "What is the recipe for a good sourdough starter?",
         "answers": [], "gold_articles": [], "history": [], "answerable": False, "date": "2016-05-01"},
    ]
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))


def test_eval_reports_retrieval_and_answer_scores(embedded_settings, tmp_path):
    folder = tmp_path / "tiny-set"
    write_set(folder)
    result = run_qa(["eval", "--json", str(folder)], embedded_settings, QA_COLLECTION=None)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["collection"] == "eval-tiny-set"
    retrieval, answers = data["retrieval"], data["answers"]
    assert retrieval["questions"] == 2 and retrieval["recall_at_5"] == 1.0
    assert set(retrieval) >= {"recall_at_1", "recall_at_10", "mrr_at_10", "answer_in_top5"}
    assert answers["citations_valid"] == 1.0
    assert answers["gold_in_lead"] >= 0.5
    assert answers["refusal_recall"] == 1.0


def test_eval_of_a_folder_that_is_not_a_set(embedded_settings, tmp_path):
    result = run_qa(["eval", str(tmp_path)], embedded_settings)
    assert result.returncode == 1 and "is not an eval set" in result.stderr


def bad_set(folder, lines) -> None:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(json.dumps({"id": "a", "title": "A", "text": "Japan met Russia in Sochi."}) + "\n")
    (folder / "questions.jsonl").write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


GOOD = {"id": "q1", "question": "Where did Japan meet Russia?", "answers": ["Sochi"], "gold_articles": ["a"], "history": [], "date": "2016-05-01"}


@pytest.mark.parametrize(
    "line, reason",
    [
        ({**GOOD, "question": 42}, "'question' must be text, not a number"),
        ({**GOOD, "question": "  "}, "'question' is empty"),
        ({**GOOD, "history": "Earlier we talked about Sochi."}, "'history' must be a list of {\"role\", \"text\"} turns, not text"),
        ({**GOOD, "history": [{"role": "user", "text": 3}]}, "'history' must be a list of {\"role\", \"text\"} turns"),
        ({**GOOD, "date": "yesterday"}, "'date' must be a date like 2022-06-17, not 'yesterday'"),
        ({**GOOD, "gold_articles": "a"}, "'gold_articles' must be a list of article ids, not text"),
        ({**GOOD, "answers": [1, None]}, "'answers' must be a list of texts"),
        ({**GOOD, "answerable": "yes"}, "'answerable' must be true or false, not text"),
        ({k: v for k, v in GOOD.items() if k != "id"}, "missing 'id'"),
        ("{oops", "invalid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ],
)
def test_a_bad_question_line_is_named_not_unexpected(embedded_settings, tmp_path, line, reason):
    """Issue 11, item 9: a non-string question or a string history gave 'unexpected
    AttributeError', a bad date 'unexpected SearchError'."""
    folder = tmp_path / "set"
    bad_set(folder, [GOOD, line])
    result = run_qa(["eval", str(folder)], embedded_settings)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"qa: error: {folder / 'questions.jsonl'}:2: {reason}\n"


def test_an_empty_set_is_an_error(embedded_settings, tmp_path):
    folder = tmp_path / "set"
    bad_set(folder, [])
    result = run_qa(["eval", str(folder)], embedded_settings)
    assert result.returncode == 1
    assert result.stderr == f"qa: error: {folder / 'questions.jsonl'} holds no questions\n"


def test_questions_without_gold_articles_are_counted_out_loud(embedded_settings, tmp_path):
    folder = tmp_path / "tiny-set"
    write_set(folder)  # q3 has no gold articles
    result = run_qa(["eval", "--no-answers", str(folder)], embedded_settings, QA_COLLECTION=None)
    assert result.returncode == 0, result.stderr
    assert "note: 1 of 3 questions has no gold_articles: not in the retrieval scores" in result.stderr
    assert "without_gold: 1" in result.stdout
    folder = tmp_path / "no-gold"
    bad_set(folder, [{**GOOD, "gold_articles": []}])
    data = json.loads(run_qa(["eval", "--json", "--no-answers", str(folder)], embedded_settings, QA_COLLECTION=None).stdout)
    assert data["retrieval"]["questions"] == 0 and data["retrieval"]["recall_at_1"] is None  # not a zero score


def test_p95_is_never_below_p50():
    from qa.evaluation import Question, percentile, score_retrieval

    for times in ([5.0, 1.0], [1.0, 2.0, 30.0], [3.0], [4.0, 4.0, 1.0, 9.0]):
        assert percentile(times, 0.95) >= percentile(times, 0.5)
    assert percentile([1.0, 3.0], 0.5) == 2.0 and percentile([1.0, 3.0], 1.0) == 3.0
    delays = iter([0.0, 0.03])

    def search(q):
        import time

        time.sleep(next(delays))
        return [("a", "text")]

    scores = score_retrieval([Question("1", "x", [], ["a"]), Question("2", "y", [], ["a"])], search)
    assert scores.p95_ms >= scores.p50_ms


def test_gold_leads_follow_the_answerable_questions_in_order():
    """What compare_answers.py pairs up between two answerers, question by question."""
    from qa.answer import Answer
    from qa.answer_eval import score_answers
    from qa.evaluation import Question

    replies = {"Who won?": "The Buffalo Bills won on Sunday. [1]", "Is it raining?": "No.", "Where?": "In the city. [1]"}

    class Replies:  # an answerer that says what it is given (Assistant.ask's signature)
        def ask(self, question, history=None, filters=None):
            return Answer(question=question, text=replies[question])

    questions = [
        Question("1", "Who won?", ["Buffalo Bills"], []),
        Question("2", "Is it raining?", [], [], answerable=False),
        Question("3", "Where?", ["Orchard Park"], []),
    ]
    scores = score_answers(Replies(), questions)
    assert scores.gold_leads == [True, False]
    assert scores.gold_in_lead == 0.5
    assert "gold_leads" not in scores.to_dict()  # `qa eval --json` keeps its keys


def test_refusals_follow_every_question_in_order_and_give_the_f1():
    """What compare_answers.py resamples for a paired bootstrap of refusal F1 (mtrag-dev)."""
    from qa.answer import Answer
    from qa.answer_eval import refusal_scores, score_answers
    from qa.evaluation import Question

    refuse = {"Who won?": False, "Is it raining?": True, "Where?": True, "When?": False}

    class Replies:
        def ask(self, question, history=None, filters=None):
            return Answer(question=question, text="The articles don't answer this.", answered=not refuse[question])

    questions = [
        Question("1", "Who won?", ["Buffalo Bills"], []),
        Question("2", "Is it raining?", [], [], answerable=False),
        Question("3", "Where?", ["Orchard Park"], []),  # refused though answerable
        Question("4", "When?", [], [], answerable=False),  # answered though it should be refused
    ]
    scores = score_answers(Replies(), questions)
    assert scores.refusals == [False, True, True, False]
    assert (scores.refusal_precision, scores.refusal_recall, scores.refusal_f1) == (0.5, 0.5, 0.5)
    assert "refusals" not in scores.to_dict()
    assert refusal_scores([False, False], [True, False]) == (None, 0.0, None)  # nothing refused: no precision
    assert refusal_scores([True, False], [True, True]) == (0.0, None, None)  # nothing to refuse: no recall
