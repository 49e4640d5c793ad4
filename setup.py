"""Package discovery (everything else is in pyproject.toml).

``conf/`` stays at the repository root, the project's layout, and ships inside the package as
``stgcn_reid.conf`` (the mapping is ``[tool.setuptools.package-dir]``). pyproject.toml alone
cannot add that one package to the ones ``find`` discovers under ``src/``, hence this file.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "stgcn_reid.conf"])
