"""The bundled XNLI accuracy metric loads offline and counts exactly."""

from __future__ import annotations

import pytest

from xlm_hf.xnli.metric import XNLI_ACCURACY_DIR, load_xnli_metric


@pytest.fixture
def metric():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_EVALUATE_OFFLINE", "1")
        yield load_xnli_metric()


def test_script_is_shipped_in_the_package():
    assert (XNLI_ACCURACY_DIR / "xnli_accuracy.py").is_file()


def test_exact_accuracy_and_confusion_matrix(metric):
    # references (rows) x predictions (columns), label order entailment, neutral, contradiction
    references = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1]
    predictions = [0, 0, 2, 1, 0, 2, 2, 1, 2, 1]
    result = metric.compute(predictions=predictions, references=references)
    assert result["accuracy"] == pytest.approx(7 / 10)
    assert result["confusion_matrix"] == [[2, 0, 1], [1, 2, 0], [0, 1, 3]]


def test_batches_accumulate(metric):
    metric.add_batch(predictions=[0, 1], references=[0, 2])
    metric.add_batch(predictions=[2], references=[2])
    result = metric.compute()
    assert result == {"accuracy": pytest.approx(2 / 3), "confusion_matrix": [[1, 0, 0], [0, 0, 0], [0, 1, 1]]}


def test_out_of_range_label_is_refused(metric):
    with pytest.raises(ValueError, match="outside"):
        metric.compute(predictions=[3], references=[0])
