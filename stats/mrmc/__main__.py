from stats.mrmc.cli import main

raise SystemExit(main())
