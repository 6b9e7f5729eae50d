from vp_bayes.cli import main

main()
