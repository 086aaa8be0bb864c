from threatmatch.cli.main import main

main()
