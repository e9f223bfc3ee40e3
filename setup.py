"""Build hook for the optional compiled LZ76 kernel.

All project metadata lives in pyproject.toml.  The C extension ``brainlz._lz76`` is built at install time
(it is plain C against the stable buffer protocol, no numpy headers); if no C compiler is available the build
of the extension is skipped and ``brainlz.lzc`` falls back to its pure-Python implementation.

The built-in neuron models and protocols live at the top of the repository, in ``models/`` and ``protocols/``; a
built package carries copies of them in ``brainlz/_builtin/models`` and ``brainlz/_builtin/protocols`` (written by
``build_py`` below; the sdist takes the two folders through MANIFEST.in).  An editable install copies nothing:
``brainlz.models.builtin_dir`` finds the folders of the checkout itself.
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

BUILTIN_FOLDERS = ("models", "protocols")


class BuildPyWithBuiltins(build_py):
    """``build_py`` that also copies ``models/*.py`` and ``protocols/*.py`` to ``brainlz/_builtin/<folder>/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        shutil.rmtree(Path(self.build_lib, "brainlz", "_builtin"), ignore_errors=True)  # no stale copies
        for source, destination in self._builtin_files():
            self.mkpath(str(Path(destination).parent))
            self.copy_file(source, destination)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [destination for _, destination in self._builtin_files()]

    def _builtin_files(self) -> list:
        """``(source, destination)`` of every built-in model and protocol file."""
        target = Path(self.build_lib, "brainlz", "_builtin")
        return [(str(path), str(target / folder / path.name))
                for folder in BUILTIN_FOLDERS for path in sorted(Path(folder).glob("*.py"))]


setup(
    cmdclass={"build_py": BuildPyWithBuiltins},
    ext_modules=[
        Extension(
            "brainlz._lz76",
            sources=["brainlz/_lz76.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
