# Packaging tests (included by tests/CMakeLists.txt).

# consumer: install this build tree into a scratch prefix, then build and run
# tests/consumer against it with find_package(metarec CONFIG REQUIRED).
if(METAREC_INSTALL)
  add_test(NAME consumer COMMAND ${CMAKE_COMMAND}
    -DMETAREC_BUILD_DIR=${PROJECT_BINARY_DIR}
    -DCONSUMER_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/consumer
    -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    -DBUILD_TYPE=$<CONFIG>
    "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
    -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run_consumer.cmake)
  set_tests_properties(consumer PROPERTIES LABELS "packaging" TIMEOUT 600)
endif()

# packaging: the Conan recipe, the vcpkg port and CMake agree on name, version,
# license and install layout.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME packaging COMMAND ${Python3_EXECUTABLE}
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/check_packaging.py ${PROJECT_SOURCE_DIR})
  set_tests_properties(packaging PROPERTIES LABELS "packaging")
endif()
