"""Build hook for the optional compiled LZ76 kernel.

All project metadata lives in pyproject.toml.  The C extension ``brainlz._lz76`` is built at install time
(it is plain C against the stable buffer protocol, no numpy headers); if no C compiler is available the build
of the extension is skipped and ``brainlz.lzc`` falls back to its pure-Python implementation.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "brainlz._lz76",
            sources=["brainlz/_lz76.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
