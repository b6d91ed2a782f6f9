# vcpkg overlay port for metarec, wrapping the project's own CMake install.
#   vcpkg install metarec --overlay-ports=<metarec checkout>/ports
# It builds the checkout this port lives in (or $ENV{METAREC_SOURCE_PATH}).
# For a registry, replace the two lines below with
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/metarec REF v${VERSION} SHA512 <sha512>)
if(DEFINED ENV{METAREC_SOURCE_PATH})
  set(SOURCE_PATH "$ENV{METAREC_SOURCE_PATH}")
else()
  get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
endif()

set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    openmp METAREC_WITH_OPENMP
)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DMETAREC_BUILD_TESTS=OFF
    -DMETAREC_BUILD_EXAMPLES=OFF
    -DMETAREC_BUILD_TOOLS=OFF
    -DMETAREC_BUILD_BENCHMARKS=OFF
    -DMETAREC_BUILD_FUZZERS=OFF
    -DMETAREC_WITH_CUDA=OFF
    -DMETAREC_INSTALL=ON
)
vcpkg_cmake_install()
# metarecConfig.cmake is installed to share/metarec/cmake; vcpkg wants share/metarec.
vcpkg_cmake_config_fixup(CONFIG_PATH share/metarec/cmake)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
