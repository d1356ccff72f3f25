"""The optional C extensions of the MRT reader (src/lightsout/sources/mrt/_fastmrt.pyx), of
batch geolocation (src/lightsout/attribution/_fastgeo.pyx) and of AS entities in bulk
(src/lightsout/attribution/_fastnames.pyx); docs/mrt.md says why (measured).

Everything else is in pyproject.toml. The extension is optional: without Cython or a C compiler
the package installs and reads MRT files with its pure-Python code (same results, slower).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - pyproject.toml's build requirements include Cython
    extensions = []
else:
    extensions = cythonize(
        [
            Extension(
                "lightsout.sources.mrt._fastmrt",
                ["src/lightsout/sources/mrt/_fastmrt.pyx"],
                # the units it includes (Cython tracks them; listed so that a source tree has them)
                depends=[
                    f"src/lightsout/sources/mrt/_fastmrt_{unit}.pxi"
                    for unit in ("wire", "td2", "bgp4mp", "keys")
                ],
                extra_compile_args=["-O2"],
                optional=True,
            ),
            Extension(
                "lightsout.attribution._fastgeo",
                ["src/lightsout/attribution/_fastgeo.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
            Extension(
                "lightsout.attribution._fastnames",
                ["src/lightsout/attribution/_fastnames.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
        ],
        compiler_directives={"language_level": "3"},
        quiet=True,
    )

setup(ext_modules=extensions)
