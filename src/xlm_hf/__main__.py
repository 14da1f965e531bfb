from xlm_hf.cli import main

raise SystemExit(main())
