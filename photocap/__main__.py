from photocap.cli import main

main()
