"""Conan 2 recipe for metarec (header-only; packaged through its own CMake install).

Dependencies: by default the recipe declares NO Conan requirements and the
installed metarecConfig.cmake finds Eigen3 (>= 3.4), xtensor and OpenMP on the
system (e.g. Debian's libeigen3-dev, xtensor-dev, g++'s libgomp). With
`-o metarec/*:conan_deps=True` it requires eigen and xtensor from a Conan
remote instead; CMakeDeps then generates the Eigen3/xtensor config files that
metarecConfig.cmake's find_dependency() picks up. See docs/packaging.md.
"""
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rmdir

required_conan_version = ">=2.0"


class MetarecConan(ConanFile):
    name = "metarec"
    package_type = "header-library"
    license = "MIT"
    description = "Header-only C++20 toolkit for transferable sequential recommendation"
    topics = ("recommendation", "sequential-recommendation", "meta-learning", "autodiff", "header-only")
    settings = "os", "arch", "compiler", "build_type"  # to run CMake's install; cleared in package_id
    options = {"with_openmp": [True, False], "conan_deps": [True, False]}
    default_options = {"with_openmp": True, "conan_deps": False}
    exports_sources = "CMakeLists.txt", "cmake/*", "include/*", "LICENSE*"
    no_copy_source = True

    def set_version(self):
        # One source of truth: project(metarec VERSION x.y.z) in CMakeLists.txt.
        text = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*metarec\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", text)
        if not match:
            raise ConanInvalidConfiguration("cannot read project(metarec VERSION ...) from CMakeLists.txt")
        self.version = match.group(1)

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        if self.options.conan_deps:
            self.requires("eigen/3.4.0")
            self.requires("xtensor/0.24.7")

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)  # policy contracts are C++20 concepts

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["METAREC_WITH_OPENMP"] = bool(self.options.with_openmp)
        for part in ("TESTS", "EXAMPLES", "TOOLS", "BENCHMARKS", "FUZZERS"):
            tc.cache_variables[f"METAREC_BUILD_{part}"] = False
        tc.cache_variables["METAREC_INSTALL"] = True
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()  # nothing to compile: this checks the dependencies and writes the config files

    def package(self):
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()

    def package_id(self):
        self.info.settings.clear()  # headers only: one package for every compiler and build type

    def package_info(self):
        # Consumers use the package's own metarecConfig.cmake (target metarec::metarec),
        # the same file a plain `cmake --install` produces, so the three ways of
        # consuming metarec behave alike. CMakeToolchain puts builddirs on
        # CMAKE_PREFIX_PATH; find_package(metarec) then finds share/metarec/cmake.
        self.cpp_info.set_property("cmake_find_mode", "none")
        self.cpp_info.set_property("cmake_file_name", "metarec")
        self.cpp_info.set_property("cmake_target_name", "metarec::metarec")
        self.cpp_info.builddirs = ["."]
        # For non-CMake generators (PkgConfigDeps, MSBuildDeps, ...):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.options.with_openmp:
            self.cpp_info.defines = ["METAREC_WITH_OPENMP=1"]
            if self.settings.get_safe("compiler") in ("gcc", "clang"):
                self.cpp_info.cxxflags = ["-fopenmp"]
                self.cpp_info.sharedlinkflags = ["-fopenmp"]
                self.cpp_info.exelinkflags = ["-fopenmp"]
