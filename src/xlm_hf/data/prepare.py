"""``python -m xlm_hf.data.prepare``, the command's earlier name: ``xlm-hf prepare-data`` now.

An entry point kept for the scripts that call it; nothing in the package imports this module
(`tests/unit/test_architecture.py` names it as the one entry-point shim inside `data/`)."""

if __name__ == "__main__":
    from xlm_hf.prepare_data import main

    raise SystemExit(main())
