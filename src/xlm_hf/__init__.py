"""xlm-hf: XLM cross-lingual pretraining (CLM/MLM/TLM) and XNLI fine-tuning on Hugging Face."""

from pathlib import Path

__version__ = "0.1.0"

#: Directory of the embedded sample corpus the default recipes use.
ASSETS_DIR = Path(__file__).parent / "assets"
SAMPLE_DIR = ASSETS_DIR / "sample"

__all__ = ["ASSETS_DIR", "SAMPLE_DIR", "FastXLMTokenizer", "__version__"]


def __getattr__(name: str):
    """`xlm_hf.FastXLMTokenizer` without importing transformers on `import xlm_hf`."""
    if name == "FastXLMTokenizer":
        from xlm_hf.text.fast_tokenizer import FastXLMTokenizer

        return FastXLMTokenizer
    raise AttributeError(f"module 'xlm_hf' has no attribute {name!r}")
