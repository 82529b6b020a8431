"""Build the small C core of memdive into plain shared libraries inside the package.

The libraries are loaded with ctypes (and the allocation shim with LD_PRELOAD), so they are
not Python extension modules: build_ext is only used as the hook that compiles them at
`pip install` time. Nothing is compiled at run time.

To add a library, add one entry to NATIVE_LIBS: name -> (sources, extra compile args, libraries).
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = "src/memdive/native"

NATIVE_LIBS: dict[str, tuple[list[str], list[str], list[str]]] = {
    # name: (sources relative to src/memdive/native, extra cflags, libraries)
    "core": (["core/core.c", "core/procread.c"], ["-O2"], ["pthread"]),  # ABI stamp, parallel /proc reader
    "shim": (["shim/shim.c"], ["-O2", "-fno-omit-frame-pointer", "-ftls-model=initial-exec"], ["pthread", "dl", "gcc_s"]),
    "pool": (["pool/pool.c", "pool/exitprobe.c"], ["-O2"], ["pthread"]),  # lock-free pool, exit probe
    "pages": (["pages/scancount.c"], ["-O2"], []),  # per-mapping counts of PAGEMAP_SCAN runs (pages walk)
    # benchmark kernels: built for the CPU it is installed on (-march=native), like STREAM
    "bench": (["bench/team.c", "bench/stream.c", "bench/chase.c", "bench/misc.c"],
              ["-O3", "-march=native", "-fopenmp-simd"], ["pthread", "m"]),
}

COMMON_CFLAGS = ["-std=gnu11", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=default"]


class BuildNative(build_ext):
    """Compile each entry of NATIVE_LIBS to memdive/native/libmemdive_<name>.so."""

    def get_ext_filename(self, fullname: str) -> str:
        pkg, _, leaf = fullname.rpartition(".")
        return os.path.join(*pkg.split("."), leaf + ".so")

    def get_export_symbols(self, ext):  # plain C libraries, no PyInit_ symbol
        return []

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, missing gcc
            raise SystemExit(
                "memdive: building the C core failed: %s\n"
                "memdive needs a C compiler and libc headers: apt-get install gcc libc6-dev" % exc
            ) from exc


def _ext(name: str, sources: list[str], cflags: list[str], libs: list[str]) -> Extension:
    return Extension(
        "memdive.native.libmemdive_" + name,
        sources=[os.path.join(NATIVE, s) for s in sources],
        include_dirs=[NATIVE],
        extra_compile_args=COMMON_CFLAGS + cflags,
        libraries=libs,
        py_limited_api=False,
    )


setup(
    ext_modules=[_ext(n, *spec) for n, spec in NATIVE_LIBS.items()],
    cmdclass={"build_ext": BuildNative},
)
