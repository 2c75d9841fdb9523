from aiops_agent.cli import main

raise SystemExit(main())
