"""Package discovery for the one layout quirk pyproject.toml cannot express.

The design card puts ``server/``, ``tools/`` and ``adapters/`` at the top of the repository; they install as
``taskvec.server``, ``taskvec.tools`` and ``taskvec.adapters``, so the distribution claims one import name. Every
package below each of those folders is found here, so a new subpackage can never be left out of the wheel (a
hand-kept list once left out ``taskvec.analysis``). Everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"taskvec": "taskvec", "taskvec.server": "server", "taskvec.tools": "tools", "taskvec.adapters": "adapters"}

packages = []
for name, folder in ROOTS.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_packages(where=folder))]

setup(packages=packages, package_dir=ROOTS)
