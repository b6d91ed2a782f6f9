#!/usr/bin/env python3
"""Checks that CMake, the Conan recipe and the vcpkg port describe the same package.

Usage: check_packaging.py <metarec source dir>. Prints one line per check and
'N passed, N failed'; exits non-zero on any failure. No Conan or vcpkg client
is needed: conanfile.py is loaded with a stub `conan` module.
"""
import json
import pathlib
import re
import sys
import types

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail and not ok else ""))


def read(rel):
    return (root / rel).read_text(encoding="utf-8")


# --- CMake: the single source of the version and the install layout --------
cmake = read("CMakeLists.txt")
m = re.search(r"project\(\s*metarec\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", cmake)
check("CMakeLists.txt declares project(metarec VERSION x.y.z)", m is not None)
version = m.group(1) if m else None
install = read("cmake/metarecInstall.cmake")
m = re.search(r"install\(EXPORT metarecTargets NAMESPACE metarec:: DESTINATION \$\{CMAKE_INSTALL_DATADIR\}/metarec/cmake\)", install)
check("metarecInstall.cmake exports metarec:: into share/metarec/cmake", m is not None)

# --- vcpkg port ----------------------------------------------------------------
try:
    manifest = json.loads(read("ports/metarec/vcpkg.json"))
    check("ports/metarec/vcpkg.json is valid JSON", True)
except (OSError, json.JSONDecodeError) as e:
    manifest = {}
    check("ports/metarec/vcpkg.json is valid JSON", False, str(e))
check("vcpkg.json name is metarec", manifest.get("name") == "metarec", repr(manifest.get("name")))
check("vcpkg.json version matches CMake", version is not None and manifest.get("version") == version,
      f"{manifest.get('version')!r} vs CMake {version!r}")
deps = {d if isinstance(d, str) else d.get("name") for d in manifest.get("dependencies", [])}
for dep in ("eigen3", "xtensor", "vcpkg-cmake", "vcpkg-cmake-config"):
    check(f"vcpkg.json depends on {dep}", dep in deps, f"dependencies: {sorted(deps)}")
features = manifest.get("features", {})
check("vcpkg.json has an openmp feature", "openmp" in features, f"features: {sorted(features)}")
check("vcpkg.json default features exist", set(manifest.get("default-features", [])) <= set(features))
check("vcpkg.json has a description and license", bool(manifest.get("description")) and bool(manifest.get("license")))

portfile = read("ports/metarec/portfile.cmake")
for needle in ("vcpkg_cmake_configure(", "vcpkg_cmake_install()", "vcpkg_cmake_config_fixup(CONFIG_PATH share/metarec/cmake)",
               "-DMETAREC_BUILD_TESTS=OFF", "-DMETAREC_BUILD_EXAMPLES=OFF", "-DMETAREC_BUILD_TOOLS=OFF", "-DMETAREC_BUILD_BENCHMARKS=OFF",
               '"${CURRENT_PACKAGES_DIR}/debug"', "vcpkg_install_copyright("):
    check(f"portfile.cmake contains {needle}", needle in portfile)
mapped = re.findall(r"^\s+([a-z0-9-]+)\s+(METAREC_\w+)\s*$", portfile, re.M)
check("portfile maps every vcpkg feature to a CMake option",
      {f for f, _ in mapped} == set(features) and all(o in cmake for _, o in mapped), f"mapped: {mapped}")
usage = read("ports/metarec/usage")
check("usage names find_package and the target",
      "find_package(metarec CONFIG REQUIRED)" in usage and "metarec::metarec" in usage)
check("LICENSE exists (installed by the port and the recipe)", (root / "LICENSE").is_file(),
      "add a LICENSE file at the repository root")

# --- Conan recipe, loaded with a stub `conan` package --------------------------
def stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


noop = lambda *a, **k: None  # noqa: E731
stub("conan", ConanFile=object)
stub("conan.errors", ConanInvalidConfiguration=RuntimeError)
stub("conan.tools")
stub("conan.tools.build", check_min_cppstd=noop, can_run=noop)
stub("conan.tools.cmake", CMake=object, CMakeDeps=object, CMakeToolchain=object, cmake_layout=noop)
stub("conan.tools.files", copy=noop, rmdir=noop, load=lambda self, path: pathlib.Path(path).read_text())
recipe = {}
exec(compile(read("conanfile.py"), str(root / "conanfile.py"), "exec"), recipe)
cls = next(v for v in recipe.values() if isinstance(v, type) and getattr(v, "name", None) == "metarec")
probe = types.SimpleNamespace(recipe_folder=str(root), version=None)
cls.set_version(probe)
check("conanfile.py version matches CMake", probe.version == version, f"{probe.version!r} vs {version!r}")
check("conanfile.py package_type is header-library", cls.package_type == "header-library")
check("conanfile.py has no_copy_source", getattr(cls, "no_copy_source", False) is True)
check("conanfile.py and vcpkg.json agree on the license", cls.license == manifest.get("license"),
      f"{cls.license!r} vs {manifest.get('license')!r}")
check("conanfile.py exports what the CMake install needs",
      all(p in cls.exports_sources for p in ("CMakeLists.txt", "cmake/*", "include/*")))

passed, failed = results.count(True), results.count(False)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
