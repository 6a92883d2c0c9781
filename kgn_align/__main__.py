from kgn_align.cli import main

main()
