"""Cloud providers behind one contract (see base.py); clouds are loaded by registry.py."""
