from podlock.cli.main import main

raise SystemExit(main())
