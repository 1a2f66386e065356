from artifactctl.cli import main

main()
