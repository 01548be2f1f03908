#!/usr/bin/env python3
"""Builds and runs the consumers of vmm_pmr, one step per Meson test:

  install           vmm_pmr set up, built and installed into a private prefix, the way
                    a packager would (tests and benchmarks off, the parent's CUDA choice);
                    libvmm_pmr exports no test double, libvmm_pmr_testing exports them;
                    libvmm_pmr_c and vmm_pmr_c.h are installed, with the framework hooks
  meson_subproject  meson_subproject/ with this source tree as subprojects/vmm_pmr
  pkg_config        pkg_config/build.sh against the installed package
  cmake             cmake_find_package/ through find_package against the installed package
  doc_snippets      the docs quote every consumer file below, and the example, line for line

Each consumer is the snippet docs/consuming.md shows plus main.cpp, copied into a fresh
directory under --work (in the build directory); the source tree is only read. The
installed package is shared: `install` refreshes it, and the consumers that need it take
the same lock and reinstall when it is missing or its build is out of date, so each also
runs alone. Exit status: 0 pass, 1 fail, 77 skip (Meson's convention).
"""
import argparse
import contextlib
import fcntl
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
# Each file the docs show, relative to HERE, and the document (relative to the source
# root) that must quote it.
SNIPPETS = {
    "main.cpp": "docs/consuming.md",
    "meson_subproject/subprojects/vmm_pmr.wrap": "docs/consuming.md",
    "meson_subproject/meson.build": "docs/consuming.md",
    "pkg_config/build.sh": "docs/consuming.md",
    "cmake_find_package/CMakeLists.txt": "docs/consuming.md",
    "../../examples/share_between_processes.cpp": "docs/ipc.md",
}
EXPECTED_OUTPUT = "sum 499500; "
SKIP = 77


class StepFailed(Exception):
    pass


def consumer_env(**extra: str) -> dict:
    env = dict(os.environ)
    # meson test sets MALLOC_PERTURB_ for the test itself, not for the compilers it runs;
    # DESTDIR would divert `meson install` away from the prefix.
    for name in ("MALLOC_PERTURB_", "DESTDIR"):
        env.pop(name, None)
    env.update(extra)
    return env


def run(command, cwd=None, env=None, capture=False) -> str:
    print("+", shlex.join(str(part) for part in command), flush=True)
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env or consumer_env(),
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
    )
    if capture and result.stdout:
        print(result.stdout, end="" if result.stdout.endswith("\n") else "\n", flush=True)
    if result.returncode != 0:
        raise StepFailed(f"exit status {result.returncode}: {shlex.join(map(str, command))}")
    return result.stdout or ""


def fresh_copy(name: str, work: pathlib.Path, sources: list) -> pathlib.Path:
    target = work / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for source in sources:
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target / source.name)
    return target


def check_program_output(output: str) -> None:
    if EXPECTED_OUTPUT not in output:
        raise StepFailed(f"the program printed {output!r}, expected {EXPECTED_OUTPUT!r}")


class Install:
    """The installed package: <work>/install/{build,prefix}, guarded by a lock file."""

    def __init__(self, args):
        self.args = args
        self.root = args.work / "install"
        self.build = self.root / "build"
        self.prefix = self.root / "prefix"
        self.stamp = self.root / "installed.json"
        self.options = [
            f"--prefix={self.prefix}",
            "--buildtype=plain",  # as distributions build packages, and the quickest
            "--wrap-mode=nodownload",
            "-Dtests=disabled",
            "-Dbench=disabled",
            f"-Dcuda={args.cuda}",
            f"-Dtoolkit_dir={args.toolkit_dir}",
        ]

    @contextlib.contextmanager
    def locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def configuration(self) -> str:
        version = subprocess.run(self.args.meson + ["--version"], env=consumer_env(),
                                 stdout=subprocess.PIPE, check=True, text=True).stdout.strip()
        return json.dumps({"meson": version, "source": str(self.args.source_root),
                           "options": self.options})

    def configured_as_wanted(self) -> bool:
        configured = self.root / "configuration.json"
        return (self.build / "build.ninja").exists() and configured.exists() \
            and configured.read_text() == self.configuration()

    def refresh(self) -> dict:
        """Sets up (again if anything changed), builds and installs into an empty prefix."""
        self.stamp.unlink(missing_ok=True)
        if not self.configured_as_wanted():
            shutil.rmtree(self.build, ignore_errors=True)
            run(self.args.meson + ["setup", self.build, self.args.source_root] + self.options)
            (self.root / "configuration.json").write_text(self.configuration())
        run(self.args.meson + ["compile", "-C", self.build])
        shutil.rmtree(self.prefix, ignore_errors=True)
        run(self.args.meson + ["install", "-C", self.build, "--no-rebuild", "--quiet"])
        libdir = self.prefix / self.build_options()["libdir"]
        installed = {"prefix": str(self.prefix), "libdir": str(libdir)}
        self.stamp.write_text(json.dumps(installed))
        return installed

    def build_options(self) -> dict:
        output = subprocess.run(
            self.args.meson + ["introspect", str(self.build), "--buildoptions"],
            env=consumer_env(), stdout=subprocess.PIPE, check=True, text=True).stdout
        return {option["name"]: option["value"] for option in json.loads(output)}

    def up_to_date(self) -> bool:
        if not self.stamp.exists() or not self.configured_as_wanted():
            return False
        ninja = shutil.which("ninja") or shutil.which("ninja-build") or shutil.which("samu")
        if ninja is None:
            return False
        dry_run = subprocess.run([ninja, "-C", str(self.build), "-n"], env=consumer_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return dry_run.returncode == 0 and "no work to do" in dry_run.stdout

    def ensure(self) -> dict:
        with self.locked():
            if self.up_to_date():
                print(f"reusing the package installed in {self.prefix}", flush=True)
                return json.loads(self.stamp.read_text())
            return self.refresh()


def step_install(args) -> int:
    install = Install(args)
    with install.locked():
        installed = install.refresh()
    libdir = pathlib.Path(installed["libdir"])
    expected = [
        install.prefix / "include" / "vmm_pmr" / "vmm_pmr.hpp",
        libdir / "pkgconfig" / "vmm_pmr.pc",
        libdir / "cmake" / "vmm_pmr" / "vmm_pmrConfig.cmake",
        libdir / "cmake" / "vmm_pmr" / "vmm_pmrConfigVersion.cmake",
        install.prefix / "include" / "vmm_pmr_c.h",
        libdir / "pkgconfig" / "vmm_pmr_c.pc",
    ]
    missing = [str(path) for path in expected if not path.exists()]
    if missing:
        raise StepFailed("not installed: " + ", ".join(missing))
    if not list(libdir.glob("libvmm_pmr.*")):
        raise StepFailed(f"no libvmm_pmr.* in {libdir}")
    check_no_test_code(install.prefix, libdir)
    check_c_interface(libdir)
    return 0


def check_c_interface(libdir: pathlib.Path) -> None:
    """libvmm_pmr_c is a shared library exporting the hooks frameworks look up by name,
    and no test double."""
    libraries = [path for path in libdir.glob("libvmm_pmr_c.so*") if not path.is_symlink()]
    if not libraries:
        raise StepFailed(f"no libvmm_pmr_c.so installed in {libdir}")
    symbols = set(defined_symbols(libraries[0]))
    hooks = ["vmm_pmr_torch_malloc", "vmm_pmr_torch_free", "vmm_pmr_cupy_malloc",
             "vmm_pmr_cupy_free", "vmm_pmr_pool_create", "vmm_pmr_last_error"]
    missing = [hook for hook in hooks if hook not in symbols]
    if missing:
        raise StepFailed(f"{libraries[0].name} does not export {', '.join(missing)}")
    leaked = sorted(symbol for symbol in symbols
                    if any(marker in symbol for marker in TEST_DOUBLE_MARKERS))
    if leaked:
        raise StepFailed(f"{libraries[0].name} exports test code, e.g. {leaked[:3]}")
    print(f"{libraries[0].name} exports the C interface's hooks and no test double", flush=True)


# Namespaces and names of the test doubles: none may be defined in the library users link.
TEST_DOUBLE_MARKERS = ["vmm_pmr::testing::", "vmm_pmr::test::", "fault_injecting_backend",
                       "counting_backend", "manual_event_backend", "roomy_backend",
                       "no_room_behind_backend", "exact_alignment_backend",
                       "failing_upstream_resource"]


def defined_symbols(library: pathlib.Path) -> list:
    dynamic = ["--dynamic"] if ".so" in library.name else []
    command = ["nm", "--demangle", "--defined-only"] + dynamic + [str(library)]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise StepFailed(f"exit status {result.returncode}: {shlex.join(command)}: "
                         f"{result.stderr.strip()}")
    output = result.stdout
    return [line.split(" ", 2)[-1] for line in output.splitlines() if line.count(" ") >= 2]


def check_no_test_code(prefix: pathlib.Path, libdir: pathlib.Path) -> None:
    """libvmm_pmr holds no test double; libvmm_pmr_testing, installed beside it, holds
    them (which also shows that nm sees what the check looks for)."""
    libraries = {name: sorted(path for path in libdir.glob(f"lib{name}.*")
                              if not path.is_symlink() and path.suffix != ".pc")
                 for name in ("vmm_pmr", "vmm_pmr_testing")}
    for name, found in libraries.items():
        if not found:
            raise StepFailed(f"no lib{name}.* installed in {libdir}")
    for library in libraries["vmm_pmr"]:
        leaked = sorted({symbol for symbol in defined_symbols(library)
                         if any(marker in symbol for marker in TEST_DOUBLE_MARKERS)})
        if leaked:
            raise StepFailed(f"{library.name} exports test code ({len(leaked)} symbols), "
                             f"e.g. {leaked[:3]}; test doubles belong in libvmm_pmr_testing")
    for library in libraries["vmm_pmr_testing"]:
        if not any("vmm_pmr::testing::fault_injecting_backend" in symbol
                   for symbol in defined_symbols(library)):
            raise StepFailed(f"{library.name} does not define fault_injecting_backend")
    header = prefix / "include" / "vmm_pmr" / "testing" / "fault_injecting_backend.hpp"
    if not header.exists():
        raise StepFailed(f"not installed: {header}")
    print(f"no test double in {', '.join(p.name for p in libraries['vmm_pmr'])}; "
          f"{', '.join(p.name for p in libraries['vmm_pmr_testing'])} holds them", flush=True)


def step_meson_subproject(args) -> int:
    source = HERE / "meson_subproject"
    project = fresh_copy("meson_subproject", args.work, [source, HERE / "main.cpp"])
    # The wrap's directory, already there, so Meson uses it and downloads nothing: this
    # source tree as it is now, not a clone of some commit.
    (project / "subprojects" / "vmm_pmr").symlink_to(args.source_root, target_is_directory=True)
    build = project / "build"
    # The consumer's choices that vmm_pmr must honour: a static library, a debug build
    # (-O0: vmm_pmr sets no build type of its own), and the consumer's own warning level.
    run(args.meson + [
        "setup", build, project,
        "--wrap-mode=nodownload",
        "--force-fallback-for=vmm_pmr",
        "--buildtype=debug",
        "-Ddefault_library=static",
        f"-Dvmm_pmr:cuda={args.cuda}",
        f"-Dvmm_pmr:toolkit_dir={args.toolkit_dir}",
    ])
    run(args.meson + ["compile", "-C", build])
    check_program_output(run([build / "my_app"], capture=True))
    check_subproject_build(args, build)
    # With fmt and Catch2 installed nothing may be fetched, unpacked or redirected.
    # (Meson 1.12 leaves an empty .wraplock, its lock for wrap downloads, in any case.)
    extra = sorted({path.name for path in (project / "subprojects").iterdir()}
                   - {"vmm_pmr", "vmm_pmr.wrap", ".wraplock"})
    if extra:
        raise StepFailed(f"the build wrote into the consumer's subprojects/: {extra}")
    return 0


def check_subproject_build(args, build: pathlib.Path) -> None:
    def introspect(what: str):
        output = subprocess.run(args.meson + ["introspect", str(build), what],
                                env=consumer_env(), stdout=subprocess.PIPE, check=True,
                                text=True).stdout
        return json.loads(output)

    subprojects = {entry["name"] for entry in introspect("--projectinfo")["subprojects"]}
    if "vmm_pmr" not in subprojects:
        raise StepFailed(f"vmm_pmr was not built as a subproject (subprojects: {subprojects})")

    vmm_pmr_targets = [target for target in introspect("--targets")
                       if target["subproject"] == "vmm_pmr"]
    kinds = sorted((target["name"], target["type"]) for target in vmm_pmr_targets)
    if kinds != [("vmm_pmr", "static library")]:
        raise StepFailed(f"vmm_pmr as a subproject should build only its static library, "
                         f"built {kinds}")
    tests = introspect("--tests")
    if tests:
        raise StepFailed(f"vmm_pmr as a subproject registered tests: "
                         f"{[test['name'] for test in tests]}")

    commands = json.loads((build / "compile_commands.json").read_text())
    # Told apart by their objects: the sources' paths may go through the symlink or not.
    library_flags = [entry["command"].split() for entry in commands
                     if "libvmm_pmr" in entry.get("output", entry["command"])]
    app_flags = [entry["command"].split() for entry in commands
                 if "my_app" in entry.get("output", entry["command"])]
    if not library_flags or not app_flags:
        raise StepFailed("compile_commands.json lacks the library or the program")
    if any("-O0" not in flags or "-O2" in flags for flags in library_flags):
        raise StepFailed("vmm_pmr did not take the consumer's build type (debug, -O0)")
    leaked = {"-Wextra", "-Wpedantic"} & set(app_flags[0])
    if leaked:
        raise StepFailed(f"vmm_pmr's warning level reached the consumer's own code: {leaked}")


def step_pkg_config(args) -> int:
    if shutil.which("pkg-config") is None:
        print("pkg-config is not installed", flush=True)
        return SKIP
    installed = Install(args).ensure()
    libdir = installed["libdir"]
    project = fresh_copy("pkg_config", args.work, [HERE / "pkg_config", HERE / "main.cpp"])
    search_path = [os.path.join(libdir, "pkgconfig")]
    if os.environ.get("PKG_CONFIG_PATH"):
        search_path.append(os.environ["PKG_CONFIG_PATH"])
    env = consumer_env(PKG_CONFIG_PATH=os.pathsep.join(search_path))
    found_prefix = run(["pkg-config", "--variable=prefix", "vmm_pmr"], env=env, capture=True)
    if found_prefix.strip() != installed["prefix"]:
        raise StepFailed(f"pkg-config found vmm_pmr in {found_prefix.strip()}, "
                         f"not in {installed['prefix']}")
    run(["pkg-config", "--cflags", "--libs", "vmm_pmr"], env=env, capture=True)
    run(["sh", "-e", "build.sh"], cwd=project, env=env)
    library_path = os.pathsep.join(filter(None, [libdir, os.environ.get("LD_LIBRARY_PATH")]))
    check_program_output(run([project / "my_app"], capture=True,
                             env=consumer_env(LD_LIBRARY_PATH=library_path)))
    return 0


def step_cmake(args) -> int:
    cmake = shutil.which("cmake")
    if cmake is None:
        print("cmake is not installed", flush=True)
        return SKIP
    installed = Install(args).ensure()
    config = pathlib.Path(installed["libdir"]) / "cmake" / "vmm_pmr" / "vmm_pmrConfig.cmake"
    if not config.exists():
        raise StepFailed(f"{config} was not installed (was cmake missing when vmm_pmr was "
                         f"configured?)")
    project = fresh_copy("cmake_find_package", args.work,
                         [HERE / "cmake_find_package", HERE / "main.cpp"])
    build = project / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run([cmake, "-S", project, "-B", build, f"-DCMAKE_PREFIX_PATH={installed['prefix']}"]
        + generator)
    cache = (build / "CMakeCache.txt").read_text()
    found_at = [line.split("=", 1)[1] for line in cache.splitlines()
                if line.startswith("vmm_pmr_DIR:")]
    if not found_at or not found_at[0].startswith(installed["prefix"]):
        raise StepFailed(f"find_package found vmm_pmr at {found_at}, not under "
                         f"{installed['prefix']}")
    run([cmake, "--build", build])
    # No LD_LIBRARY_PATH: CMake's build-tree RPATH must find the imported library.
    check_program_output(run([build / "my_app"], capture=True))
    return 0


def quotes(document: list, snippet: list) -> bool:
    width = len(snippet)
    return any(document[start:start + width] == snippet
               for start in range(len(document) - width + 1))


def step_doc_snippets(args) -> int:
    # Lines compare without their indentation, so a snippet may sit inside a list item.
    unquoted = []
    for name, document_name in SNIPPETS.items():
        document = (args.source_root / document_name).read_text().splitlines()
        document = [line.strip() for line in document]
        quoted = (HERE / name).resolve()
        snippet = [line.strip() for line in quoted.read_text().strip().splitlines()]
        if not quotes(document, snippet):
            shown = quoted.relative_to(args.source_root)
            unquoted.append(f"{document_name} does not quote {shown} line for line")
    if unquoted:
        raise StepFailed("; ".join(unquoted))
    return 0


STEPS = {
    "install": step_install,
    "meson_subproject": step_meson_subproject,
    "pkg_config": step_pkg_config,
    "cmake": step_cmake,
    "doc_snippets": step_doc_snippets,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--source-root", type=pathlib.Path, required=True)
    parser.add_argument("--work", type=pathlib.Path, required=True)
    parser.add_argument("--meson", required=True, help="the meson that configured the build")
    parser.add_argument("--cuda", choices=["enabled", "disabled", "auto"], default="auto")
    parser.add_argument("--toolkit-dir", default="")
    args = parser.parse_args()
    args.source_root = args.source_root.resolve()
    args.work = args.work.resolve()
    # An uninstalled meson is meson.py, run by any Python 3.
    args.meson = [sys.executable, args.meson] if args.meson.endswith(".py") else [args.meson]
    try:
        return STEPS[args.step](args)
    except StepFailed as failure:
        print(f"consumer {args.step} FAILED: {failure}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
