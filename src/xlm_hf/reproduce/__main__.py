from xlm_hf.reproduce.run import main

raise SystemExit(main())
