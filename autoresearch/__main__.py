from autoresearch.cli import main

raise SystemExit(main())
