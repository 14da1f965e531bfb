"""Extractive QA the XLM way: windows over the context's subwords, answers as runs of whole words,
the best span across windows, and SQuAD / MLQA scores checked against hand-computed values."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import TaskConfig
from xlm_hf.errors import ConfigError, DataError
from xlm_hf.tasks.files import read_squad
from xlm_hf.tasks.qa import (
    QA,
    QACollator,
    answer_words,
    best_span,
    predict_answers,
    window_starts,
    words_text,
)
from xlm_hf.tasks.squad_metric import answer_tokens, exact_match, f1, normalize_answer, squad_scores
from xlm_hf.tasks.words import encode_words, word_spans
from xlm_hf.text.pretokenize import xlm_encode

QA_SAMPLE = SAMPLE_DIR / "qa"


def tiny_qa_model(tokenizer, **config):
    """A one-layer QA model over the sample vocabulary, drawn from seed 0."""
    from transformers import XLMConfig, XLMForQuestionAnsweringSimple

    torch.manual_seed(0)
    settings = {"emb_dim": 16, "n_layers": 1, "n_heads": 2, "n_langs": 4, **config, **QA.model_settings(None)}
    return XLMForQuestionAnsweringSimple(XLMConfig(vocab_size=len(tokenizer), **settings))


def qa_config(**values) -> TaskConfig:
    settings = dict(
        type="extractive-qa",
        model_name_or_path="m",
        train="t.json",
        eval="e.json",
        languages=["en"],
        doc_stride=16,
    )
    return TaskConfig(**{**settings, **values})


def squad_row(context: str, question: str, answer: str | None, lang: str = "en", nth: int = 0) -> dict:
    """A row as `read_squad` gives it (+ lang), the answer at its `nth` occurrence."""
    start = -1
    for _ in range(nth + 1):
        start = context.index(answer, start + 1) if answer else -1
    answers = {"text": [answer], "answer_start": [start]} if answer else {"text": [], "answer_start": []}
    return {"id": "q", "question": question, "context": context, "answers": answers, "lang": lang}


# ----------------------------------------------------------------------------- features

FOX = "The red fox jumps over the lazy dog."


def test_window_starts_step_by_the_stride_and_never_skip_a_subword():
    assert window_starts(15, window=6, stride=2) == [0, 2, 4, 6, 8, 10]
    assert window_starts(15, window=6, stride=4) == [0, 4, 8, 12]
    assert window_starts(6, window=6, stride=2) == [0]  # fits: one window
    assert window_starts(0, window=6, stride=2) == [0]  # an empty context still gets its window
    assert window_starts(10, window=3, stride=5) == [0, 3, 6, 9]  # a stride past the window: the window


def test_exact_features_of_a_tiny_context_with_a_stride(sample_tokenizer):
    tok = sample_tokenizer
    per_word = encode_words(tok, [FOX[s:e] for s, e in word_spans(FOX)], "en")
    # the fixture's tokenizer splits these words so (the layout below is computed by hand from it)
    assert [len(ids) for ids in per_word] == [1, 1, 2, 3, 1, 1, 3, 2, 1]
    context = [i for ids in per_word for i in ids]  # 15 subwords
    question = xlm_encode(tok, "Where does the fox jump?", "en")
    assert len(question) > 4  # so that max_query_length cuts it
    # window = 13 - 4 - 3 = 6 context subwords, a new window every 2: starts 0 2 4 6 8 10
    config = qa_config(max_seq_length=13, max_query_length=4, doc_stride=2)
    row = squad_row(FOX, "Where does the fox jump?", "jumps over")  # subwords 4..7
    ds = QA.encode([row], tok, config, None, training=True)
    assert len(ds) == 6
    en = tok.lang2id["en"]
    for k, start in enumerate([0, 2, 4, 6, 8, 10]):
        ids = [1, *question[:4], 1, *context[start : start + 6], 1]
        assert ds[k]["input_ids"] == ids and ds[k]["langs"] == [en] * len(ids)
        assert ds[k]["example_id"] == 0 and ds[k]["length"] == len(ids)
    # the answer lies whole in the windows starting at 2 and 4 only; elsewhere: position 0
    assert ds["start_positions"] == [0, 8, 6, 0, 0, 0]
    assert ds["end_positions"] == [0, 11, 9, 0, 0, 0]
    # positions map to the character span of their word; question and </s> to none
    fox, jumps, over = [8, 11], [12, 17], [18, 22]
    assert ds[1]["offsets"] == [None] * 6 + [fox, fox, jumps, jumps, jumps, over, None]
    assert ds[5]["input_ids"][-2:] == [context[-1], 1]  # the last window is shorter: 5 subwords
    assert ds[5]["offsets"][-2:] == [[35, 36], None]


def test_evaluation_features_keep_every_question_and_carry_no_positions(sample_tokenizer):
    config = qa_config(max_seq_length=13, max_query_length=4, doc_stride=4)
    rows = [squad_row(FOX, "Where?", None), squad_row(FOX, "What?", "the lazy dog")]
    ds = QA.encode(rows, sample_tokenizer, config, None)
    assert "start_positions" not in ds.column_names
    assert sorted(set(ds["example_id"])) == [0, 1]


def test_a_context_without_subwords_gets_one_window_and_no_answer(sample_tokenizer):
    # zero-width spaces: one-character words that the pre-processing removes
    config = qa_config(max_seq_length=13, max_query_length=4, doc_stride=4)
    rows = [squad_row("\u200b\u200b", "Where?", "\u200b"), squad_row(FOX, "What?", "dog")]
    ds = QA.encode(rows[:1], sample_tokenizer, config, None)
    assert len(ds) == 1 and ds[0]["offsets"] == [None] * ds[0]["length"]
    output = SimpleNamespace(predictions=(np.ones((1, 13)), np.ones((1, 13))))
    assert predict_answers(output, ds, rows[:1], config) == [""]
    assert QA.encode(rows, sample_tokenizer, config, None, training=True)["example_id"] == [1] * 3


def test_training_skips_questions_without_an_answer_and_says_so(sample_tokenizer, caplog):
    config = qa_config(max_seq_length=64, max_query_length=16)
    rows = [squad_row(FOX, "Where?", None), squad_row(FOX, "What?", "the lazy dog")]
    with caplog.at_level(logging.INFO, logger="xlm_hf.tasks.qa"):
        ds = QA.encode(rows, sample_tokenizer, config, None, training=True)
    assert ds["example_id"] == [1]
    assert "1 of 2 training questions skipped (1 without an answer, 0 whose answer has no subwords)" in (
        caplog.text
    )


def test_a_question_too_long_for_the_sequence_is_a_config_error():
    with pytest.raises(ConfigError, match=r"task.max_query_length: leaves no room for the context"):
        qa_config(max_seq_length=16, max_query_length=13, doc_stride=8)


def test_collator_pads_and_gives_the_model_only_what_it_takes(sample_tokenizer):

    config = qa_config(max_seq_length=13, max_query_length=4, doc_stride=2)
    ds = QA.encode(
        [squad_row(FOX, "Where does the fox jump?", "jumps over")],
        sample_tokenizer,
        config,
        None,
        training=True,
    )
    batch = QA.collator(sample_tokenizer, None, fused=False)([ds[0], ds[5]])
    assert set(batch) == {"input_ids", "langs", "attention_mask", "start_positions", "end_positions"}
    assert batch["input_ids"][1, -1].item() == sample_tokenizer.pad_token_id  # window 5 is shorter
    assert batch["attention_mask"][1].tolist() == [1] * 12 + [0]
    assert batch["start_positions"].tolist() == [0, 0]
    model = tiny_qa_model(sample_tokenizer)
    assert torch.isfinite(model(**batch).loss)
    evaluation = QACollator()([{k: v for k, v in ds[0].items() if "positions" not in k}])
    assert set(evaluation) == {"input_ids", "langs", "attention_mask"}


# ----------------------------------------------------------------------------- answers as words


def test_answer_words_widen_an_edge_inside_a_word():
    spans = word_spans(FOX)
    assert answer_words(spans, "jumps over", 12) == (3, 4)
    assert words_text(FOX, spans, 3, 4) == "jumps over"
    assert words_text(FOX, spans, *answer_words(spans, "ump", 13)) == "jumps"  # cut at both edges
    assert words_text(FOX, spans, *answer_words(spans, " lazy ", 26)) == "lazy"  # spaces are no word
    assert answer_words(spans, " ", 3) is None


def _cuts_a_word(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < start < e or s < end < e for s, e in spans)


def test_gold_answers_round_trip_through_words_on_tydiqa(shared_data):
    rows = read_squad(shared_data / "tasks" / "tydiqa" / "train-en.json")[:200]
    assert all(row["answers"]["text"] for row in rows)  # train has gold
    differ = []
    for row in rows:
        context, spans = row["context"], word_spans(row["context"])
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            back = words_text(context, spans, *answer_words(spans, text, start))
            if back != text.strip():  # surrounding spaces are in no word (SQuAD ignores them too)
                differ.append((text, back, _cuts_a_word(spans, start, start + len(text))))
    print(
        f"\nTyDiQA train-en, first 200 questions: {len(differ)} answers differ after the round trip: {differ}"
    )
    assert all(cuts for _, _, cuts in differ)  # only answers whose edge falls inside a word
    assert len(differ) == 2  # '183,285km' (of 'km2') and '... 198' (of '1987')


# ----------------------------------------------------------------------------- postprocessing

CONTEXT = "one two three four five"  # words at (0,3) (4,7) (8,13) (14,18) (19,23)
WINDOW_A = [None, None, None, [0, 3], [4, 7], [8, 13], None]  # </s> q </s> one two three </s>
WINDOW_B = [None, None, None, [8, 13], [14, 18], [19, 23], None]  # ... three four five ...


def _two_windows(start_a, end_a, start_b, end_b):
    """The evaluation output and dataset of one question in two windows (A padded with -100 to 8)."""
    from datasets import Dataset

    pad = [-100.0]
    output = SimpleNamespace(
        predictions=(np.array([start_a + pad, start_b + [0.0]]), np.array([end_a + pad, end_b + [0.0]]))
    )
    dataset = Dataset.from_list(
        [{"example_id": 0, "offsets": WINDOW_A}, {"example_id": 0, "offsets": WINDOW_B}]
    )
    return output, dataset


def test_the_best_span_across_two_windows():
    rows = [{"context": CONTEXT, "answers": {"text": ["four five"]}, "lang": "en"}]
    # A: best two..three = 5 + 4 = 9 (question and </s> logits of 50 are never answers)
    # B: three..five = 7 + 5 = 12, but 3 subwords; four..five = 6 + 5 = 11
    output, dataset = _two_windows(
        [50, 50, 50, 1, 5, 0, 50], [50, 50, 50, 0, 0, 4, 50], [0, 0, 0, 7, 6, 0, 0], [0, 0, 0, 0, 0, 5, 0]
    )
    assert predict_answers(output, dataset, rows, qa_config(max_answer_length=2)) == ["four five"]
    assert predict_answers(output, dataset, rows, qa_config(max_answer_length=3)) == ["three four five"]
    assert QA.score(output, dataset, rows, None, qa_config(max_answer_length=2)) == {
        "f1": 1.0,
        "exact_match": 1.0,
        "questions": 1,
        "scorable": 1,
    }


def test_the_answer_length_counts_words_not_subwords():
    # </s> q </s> one two two two three </s>: one..three is 5 subwords but 3 words
    offsets = [None, None, None, [0, 3], [4, 7], [4, 7], [4, 7], [8, 13], None]
    start, end = [0, 0, 0, 5, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 5, 0]
    assert best_span(start, end, offsets, n_best=20, max_answer_length=3) == (10.0, 3, 7)
    # two words at most: every span scores 5 at best; the first found (start one, end one) wins ties
    assert best_span(start, end, offsets, n_best=20, max_answer_length=2) == (5.0, 3, 3)


def test_best_span_needs_start_before_end_among_the_n_best():
    start, end = [0, 0, 0, 1, 2, 9, 0], [0, 0, 0, 1, 8, 0, 0]  # best start after best end
    assert best_span(start, end, WINDOW_A, n_best=1, max_answer_length=30) is None
    assert best_span(start, end, WINDOW_A, n_best=2, max_answer_length=30) == (10.0, 4, 4)
    assert best_span(start, end, [None] * 7, n_best=20, max_answer_length=30) is None


# ----------------------------------------------------------------------------- metrics


def test_squad_v1_normalisation_and_scores_by_hand():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("¡El perro!") == "¡el perro"  # ASCII punctuation and English articles only
    # tokens cat sat on mat / cat on mat: 3 shared, P 3/4, R 1: F1 6/7
    assert f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert exact_match("Paris.", "paris") == 1.0 and exact_match("Paris", "in Paris") == 0.0
    assert f1("", "") == 0.0 and exact_match("", "the") == 1.0  # v1.1: F1 0 when nothing is shared
    # q1: EM 1 (second gold); q2 red car / blue car: EM 0, F1 1/2; q3: no gold, not scorable
    scores = squad_scores(["Paris", "red car", "x"], [["Lyon", "paris."], ["the blue car"], []])
    assert scores == {"f1": 0.75, "exact_match": 0.5, "questions": 3, "scorable": 2}


def test_no_scorable_question_gives_nan():
    scores = squad_scores(["a", "b"], [[], []], "en")
    assert math.isnan(scores["f1"]) and math.isnan(scores["exact_match"])
    assert (scores["questions"], scores["scorable"]) == (2, 0)


def test_mlqa_normalisation_for_spanish_german_chinese_and_others():
    # es: articles el/los/unos go, ¡ and ! (Unicode punctuation) go, "de" stays
    assert normalize_answer("¡El perro de los vecinos!", "es") == "perro de vecinos"
    assert f1("los perros grandes", "unos perros", "es") == pytest.approx(2 / 3)  # P 1/2, R 1
    # de: der/die/das/dem/einem go, „“ go
    assert normalize_answer("„Der Hund, die Katze und das Haus“", "de") == "hund katze und haus"
    assert f1("dem alten Mann", "einem Mann", "de") == pytest.approx(2 / 3)
    assert exact_match("der Besitzer", "Besitzer", "de") == 1.0
    # zh: every Han character a token, runs of other characters split on spaces
    assert answer_tokens("2008年北京奥运会，", "zh") == ["2008", "年", "北", "京", "奥", "运", "会"]
    assert f1("北京市", "北京", "zh") == pytest.approx(0.8)  # P 2/3, R 1
    assert exact_match("北京 市", "北京市。", "zh") == 1.0
    assert f1("北京市", "北京", None) == 0.0  # SQuAD's whitespace tokens give no partial credit
    # ar: the word ال, not the letters inside a word; vi: its list; fr: no list, articles stay
    assert normalize_answer("ال كتاب الكبير", "ar") == "كتاب الكبير"
    assert normalize_answer("cái bàn của tôi", "vi") == "bàn tôi"
    assert normalize_answer("Le patron", "fr") == "le patron"
    assert normalize_answer("The owner — «ok»", "en") == "owner ok"


# ----------------------------------------------------------------------------- end to end


def _oracle_output(ds, rows) -> SimpleNamespace:
    """Logits that point at each question's first gold answer in every window holding it whole:
    a start of 10 on its first word's first subword, an end of 10 on its last word's last one."""
    width = max(ds["length"])
    start, end = np.zeros((len(ds), width)), np.zeros((len(ds), width))
    for k, (example_id, offsets) in enumerate(zip(ds["example_id"], ds["offsets"], strict=True)):
        answers = rows[example_id]["answers"]
        a, b = answers["answer_start"][0], answers["answer_start"][0] + len(answers["text"][0])
        firsts = [p for p, span in enumerate(offsets) if span is not None and span[0] == a]
        lasts = [p for p, span in enumerate(offsets) if span is not None and span[1] == b]
        if firsts and lasts:
            start[k, firsts[0]], end[k, lasts[-1]] = 10, 10
    return SimpleNamespace(predictions=(start, end))


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es"])
def test_encode_fake_logits_score_on_the_sample_dev_sets(sample_tokenizer, lang):
    rows = [{**row, "lang": lang} for row in read_squad(QA_SAMPLE / f"dev-{lang}.json")]
    assert len(rows) == 12
    # short windows: contexts take several, and features are sorted by length (not in row order)
    config = qa_config(
        languages=["de", "en", "es", "fr"], max_seq_length=40, max_query_length=16, doc_stride=8
    )
    ds = QA.encode(rows, sample_tokenizer, config, None)
    assert len(ds) > len(rows) and ds["example_id"] != sorted(ds["example_id"])
    output = _oracle_output(ds, rows)
    assert QA.score(output, ds, rows, None, config) == {
        "f1": 1.0,
        "exact_match": 1.0,
        "questions": 12,
        "scorable": 12,
    }
    # no logits at all: every window ties at 0, and the prediction is some window's first subword
    blank = SimpleNamespace(predictions=(np.zeros_like(output.predictions[0]),) * 2)
    assert QA.score(blank, ds, rows, None, config)["exact_match"] < 0.5
    # without gold (TyDiQA's dev copy): not scorable
    unlabeled = [{**row, "answers": {"text": [], "answer_start": []}} for row in rows]
    assert math.isnan(QA.score(output, ds, unlabeled, None, config)["f1"])


def test_the_sample_training_set_trains_on_every_question(sample_tokenizer):
    rows = [{**row, "lang": "en"} for row in read_squad(QA_SAMPLE / "train-en.json")]
    assert 35 <= len(rows) <= 50 and len({row["context"] for row in rows}) == 12
    ds = QA.encode(rows, sample_tokenizer, qa_config(max_seq_length=128), None, training=True)
    assert sorted(set(ds["example_id"])) == list(range(len(rows)))
    assert len(ds) == len(rows) and all(s > 0 for s in ds["start_positions"])  # one window each


# ----------------------------------------------------------------------------- hub and bad input


def test_hub_rows_read_squad_columns_and_check_answers():
    from datasets import Dataset

    hub = Dataset.from_dict(
        {
            "id": ["a", "b"],
            "question": ["Who?", "What?"],
            "context": [FOX, FOX],
            "answers": [{"text": ["fox"], "answer_start": [8]}, {"text": [], "answer_start": []}],
        }
    )
    rows = QA.hub_rows(hub, qa_config(), "hf:x validation")
    assert rows[0] == {
        "id": "a",
        "question": "Who?",
        "context": FOX,
        "answers": {"text": ["fox"], "answer_start": [8]},
        "where": "hf:x validation row 0",
    }
    assert rows[1]["answers"] == {"text": [], "answer_start": []}
    bad = hub.map(lambda r: {"answers": {"text": ["fox"], "answer_start": [9]}})
    with pytest.raises(DataError) as err:
        QA.hub_rows(bad, qa_config(), "hf:x validation")
    assert (
        str(err.value)
        == "hf:x validation row 0 (a): answer 'fox' is not the context's text at answer_start 9"
    )
    with pytest.raises(DataError, match="hf:x validation: no column 'answers'"):
        QA.hub_rows(hub.remove_columns("answers"), qa_config(), "hf:x validation")


def _squad_file(tmp_path, paragraphs) -> str:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return str(path)


def test_an_answer_start_off_its_text_is_a_one_line_data_error(tmp_path):
    qas = [{"id": "q7", "question": "Who?", "answers": [{"text": "fox", "answer_start": 3}]}]
    path = _squad_file(tmp_path, [{"context": FOX, "qas": qas}])
    with pytest.raises(DataError) as err:
        QA.read_file(path, qa_config())
    assert (
        str(err.value)
        == f"{path} data[0].paragraphs[0].qas[0] (q7): answer 'fox' is not the context's text at answer_start 3"
    )


def test_a_context_without_questions_is_a_one_line_data_error(tmp_path):
    qas = [{"id": "q1", "question": "Who?", "answers": [{"text": "fox", "answer_start": 8}]}]
    path = _squad_file(tmp_path, [{"context": FOX, "qas": qas}, {"context": "Nothing asked.", "qas": []}])
    with pytest.raises(DataError) as err:
        QA.read_file(path, qa_config())
    assert str(err.value) == f"{path} data[0].paragraphs[1]: a context without questions"


def test_the_task_trainer_trains_and_scores_every_language(sample_tokenizer, tmp_path):
    """The real evaluation loop: batches of different lengths (logits padded with -100), the
    kind's collator with every column kept, and `score` per language."""
    from transformers import TrainingArguments

    from xlm_hf.tasks.trainer import TaskTrainer

    config = qa_config(
        languages=["de", "en", "es", "fr"], max_seq_length=40, max_query_length=16, doc_stride=8
    )
    train = [{**row, "lang": "en"} for row in read_squad(QA_SAMPLE / "train-en.json")]
    dev = {
        lang: [{**row, "lang": lang} for row in read_squad(QA_SAMPLE / f"dev-{lang}.json")]
        for lang in ("en", "fr")
    }
    encoded = {lang: QA.encode(rows, sample_tokenizer, config, None) for lang, rows in dev.items()}
    model = tiny_qa_model(sample_tokenizer, max_position_embeddings=64)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=7,  # batches of several lengths
        remove_unused_columns=False,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = TaskTrainer(
        model=model,
        args=args,
        train_dataset=QA.encode(train, sample_tokenizer, config, None, training=True),
        eval_dataset=encoded,
        data_collator=QA.collator(sample_tokenizer, model, fused=False),
        scorer=lambda lang, output: QA.score(output, encoded[lang], dev[lang], None, config),
        main_metric=QA.main_metric,
    )
    assert trainer.train().training_loss > 0
    metrics = trainer.evaluate()
    for lang in ("en", "fr"):
        assert 0 <= metrics[f"eval_f1.{lang}"] <= 1 and 0 <= metrics[f"eval_exact_match.{lang}"] <= 1
        assert metrics[f"eval_questions.{lang}"] == metrics[f"eval_scorable.{lang}"] == 12
    assert metrics["eval_f1.avg"] == pytest.approx((metrics["eval_f1.en"] + metrics["eval_f1.fr"]) / 2)
