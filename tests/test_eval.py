"""`qa eval` on a small set in the ../shared/eval format, written by the test."""

from __future__ import annotations

import json

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
