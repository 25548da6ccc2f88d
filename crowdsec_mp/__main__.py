from crowdsec_mp.cli.main import main

raise SystemExit(main())
