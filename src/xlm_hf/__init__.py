"""xlm-hf: XLM cross-lingual pretraining (CLM/MLM/TLM) and XNLI fine-tuning on Hugging Face."""

from pathlib import Path

__version__ = "0.1.0"

#: Directory of the embedded sample corpus the default recipes use.
ASSETS_DIR = Path(__file__).parent / "assets"
SAMPLE_DIR = ASSETS_DIR / "sample"
