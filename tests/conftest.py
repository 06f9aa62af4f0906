import os
import sys

# tests/ holds the shared case table (cases.py) next to the tests that import it.
sys.path.insert(0, os.path.dirname(__file__))
