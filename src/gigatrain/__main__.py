"""``python -m gigatrain``: the same command line as ``gigatrain``."""

from gigatrain.interfaces.cli import main

if __name__ == "__main__":
    main()
