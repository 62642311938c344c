"""Step scripts of the fraud pipeline.

Each file is a standalone script (run as ``python <script>``) and imports nothing
from ``pipelines``; this file only exists so setuptools packages the scripts.
"""
