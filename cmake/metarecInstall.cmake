# Install rules: headers, exported INTERFACE target, package config + version file.
include(CMakePackageConfigHelpers)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/metarec DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(metarec_exported metarec metarec_native)
if(TARGET metarec_mpi)
  list(APPEND metarec_exported metarec_mpi)
endif()
install(TARGETS ${metarec_exported} EXPORT metarecTargets)
install(EXPORT metarecTargets NAMESPACE metarec:: DESTINATION ${CMAKE_INSTALL_DATADIR}/metarec/cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/metarecConfig.cmake.in
  ${PROJECT_BINARY_DIR}/metarecConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/metarec/cmake)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/metarecConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/metarecConfig.cmake ${PROJECT_BINARY_DIR}/metarecConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_DATADIR}/metarec/cmake)
