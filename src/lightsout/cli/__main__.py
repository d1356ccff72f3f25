from lightsout.cli import main

main()
