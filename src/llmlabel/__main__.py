from llmlabel.cli import main

main()
