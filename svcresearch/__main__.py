from svcresearch.cli import main

raise SystemExit(main())
