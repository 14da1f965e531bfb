"""XNLI accuracy with a confusion matrix, as an ``evaluate`` metric that ships inside xlm-hf.

It lives in the package (not on the hub) so that evaluation works offline. ``evaluate`` copies this
file into its module cache and imports it from there, so it must not import ``xlm_hf``; the label
order it assumes (entailment, neutral, contradiction) is the one ``xlm_hf.xnli.data.LABELS`` fixes.
"""

from __future__ import annotations

import datasets
import evaluate

_DESCRIPTION = """\
Accuracy of 3-way NLI predictions plus the confusion matrix (rows: reference label, columns:
predicted label, both in the order entailment, neutral, contradiction). The matrix shows which
classes a cross-lingual model confuses, which accuracy alone hides.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of int): predicted label ids.
    references (list of int): gold label ids.
    num_labels (int, default 3): size of the confusion matrix; ids must lie in [0, num_labels).
Returns:
    accuracy (float): fraction of predictions equal to the reference, in [0, 1].
    confusion_matrix (list of list of int): counts[reference][prediction].
Examples:
    >>> metric = evaluate.load("path/to/xnli_accuracy")
    >>> metric.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2])
    {'accuracy': 0.75, 'confusion_matrix': [[1, 0, 0], [0, 1, 1], [0, 0, 1]]}
"""

_CITATION = """\
@inproceedings{conneau2018xnli,
  title={XNLI: Evaluating Cross-lingual Sentence Representations},
  author={Conneau, Alexis and Rinott, Ruty and Lample, Guillaume and Williams, Adina and
          Bowman, Samuel R. and Schwenk, Holger and Stoyanov, Veselin},
  booktitle={EMNLP},
  year={2018}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class XnliAccuracy(evaluate.Metric):
    """Accuracy and confusion matrix over label ids."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_labels: int = 3) -> dict:
        matrix = [[0] * num_labels for _ in range(num_labels)]
        for prediction, reference in zip(predictions, references):
            for value in (prediction, reference):
                if not 0 <= value < num_labels:
                    raise ValueError(f"label id {value} is outside [0, {num_labels})")
            matrix[reference][prediction] += 1
        total = len(references)
        correct = sum(matrix[i][i] for i in range(num_labels))
        return {"accuracy": correct / total if total else 0.0, "confusion_matrix": matrix}
