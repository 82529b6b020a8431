"""Build the small C core of memdive inside the package, at `pip install` time.

Most of it is plain shared libraries loaded with ctypes (and the allocation shim with LD_PRELOAD):
they need only gcc and libc headers, and build_ext is merely the hook that compiles them.
One piece is a real extension module, `memdive.native._procread`, the parallel /proc reader of
`memdive ps`: its whole budget is a few milliseconds, and `import ctypes` alone would take two.
It needs the Python headers (Debian: python3-dev); where they are missing it is skipped with a
warning, and `ps` reads /proc from Python instead (slower, same answers). Nothing is compiled at
run time.

To add a library, add one entry to NATIVE_LIBS: name -> (sources, extra compile args, libraries); a
program (an executable beside them), one entry to NATIVE_PROGRAMS.

The `memdive` command is installed from bin/memdive, a plain script, rather than a [project.scripts]
entry point: pip's wrapper for an entry point imports `re` before any of memdive's code (see bin/memdive).
"""

import os
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = "src/memdive/native"

NATIVE_LIBS: dict[str, tuple[list[str], list[str], list[str]]] = {
    # name: (sources relative to src/memdive/native, extra cflags, libraries)
    "core": (["core/core.c"], ["-O2"], []),  # ABI stamp
    "shim": (["shim/shim.c"], ["-O2", "-fno-omit-frame-pointer", "-ftls-model=initial-exec"], ["pthread", "dl", "gcc_s"]),
    "pool": (["pool/pool.c", "pool/exitprobe.c"], ["-O2"], ["pthread"]),  # lock-free pool, exit probe
    "pages": (["pages/scancount.c"], ["-O2"], []),  # per-mapping counts of PAGEMAP_SCAN runs (pages walk)
    # benchmark kernels: built for the CPU it is installed on (-march=native), like STREAM
    "bench": (["bench/team.c", "bench/stream.c", "bench/chase.c", "bench/misc.c"],
              ["-O3", "-march=native", "-fopenmp-simd"], ["pthread", "m"]),
}

# Small programs installed beside the libraries: name -> (sources, extra cflags).
NATIVE_PROGRAMS: dict[str, tuple[list[str], list[str]]] = {
    "memdive-launch": (["launch/launch.c"], ["-O2"]),  # runs `faults -- CMD` as time(1) does (launch.c: why)
}

# Python extension modules: name -> (sources, extra cflags, libraries); optional (see above).
PY_EXTENSIONS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "_procread": (["core/procreadmodule.c", "core/procread.c"], ["-O2"], ["pthread"]),  # ps's parallel reads
}

COMMON_CFLAGS = ["-std=gnu11", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=default"]


def _is_py_ext(fullname: str) -> bool:
    return fullname.rpartition(".")[2] in PY_EXTENSIONS


class BuildNative(build_ext):
    """Compile each entry of NATIVE_LIBS to memdive/native/libmemdive_<name>.so, and each of
    PY_EXTENSIONS to an extension module memdive/native/<name> (when the Python headers exist)."""

    def get_ext_filename(self, fullname: str) -> str:
        if _is_py_ext(fullname):
            return super().get_ext_filename(fullname)
        pkg, _, leaf = fullname.rpartition(".")
        return os.path.join(*pkg.split("."), leaf + ".so")

    def get_export_symbols(self, ext):  # plain C libraries have no PyInit_ symbol
        return super().get_export_symbols(ext) if _is_py_ext(ext.name) else []

    def build_extension(self, ext) -> None:
        if _is_py_ext(ext.name):
            inc = sysconfig.get_paths().get("include") or ""
            if not os.path.exists(os.path.join(inc, "Python.h")):
                print(f"memdive: warning: no Python.h in {inc or 'this Python'}: {ext.name} not built; "
                      "`memdive ps` will read /proc from Python (apt-get install python3-dev to build it)")
                return
        super().build_extension(ext)

    def run(self) -> None:
        try:
            super().run()
            self.build_programs()
        except Exception as exc:  # CompileError, LinkError, missing gcc
            raise SystemExit(
                "memdive: building the C core failed: %s\n"
                "memdive needs a C compiler and libc headers: apt-get install gcc libc6-dev" % exc
            ) from exc


    def build_programs(self) -> None:
        """Each of NATIVE_PROGRAMS to an executable in memdive/native/, where the libraries go."""
        out = os.path.dirname(self.get_ext_fullpath("memdive.native.libmemdive_core"))
        for name, (sources, cflags) in NATIVE_PROGRAMS.items():
            objs = self.compiler.compile([os.path.join(NATIVE, s) for s in sources], output_dir=self.build_temp,
                                         include_dirs=[NATIVE], extra_postargs=["-std=gnu11", "-Wall", "-Wextra"] + cflags)
            self.compiler.link_executable(objs, name, output_dir=out)


def _ext(name: str, sources: list[str], cflags: list[str], libs: list[str]) -> Extension:
    return Extension(
        "memdive.native." + (name if name in PY_EXTENSIONS else "libmemdive_" + name),
        sources=[os.path.join(NATIVE, s) for s in sources],
        include_dirs=[NATIVE],
        extra_compile_args=COMMON_CFLAGS + cflags,
        libraries=libs,
        py_limited_api=False,
    )


setup(
    ext_modules=[_ext(n, *spec) for n, spec in {**NATIVE_LIBS, **PY_EXTENSIONS}.items()],
    cmdclass={"build_ext": BuildNative},
    # the `memdive` command: a plain script, not an entry point (why: bin/memdive)
    scripts=["bin/memdive"],
)
