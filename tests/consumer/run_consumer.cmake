# ctest driver for the install/find_package round trip (cmake -P script).
# Inputs: METAREC_BUILD_DIR (configured metarec build tree), CONSUMER_SOURCE_DIR,
# WORK_DIR (scratch, wiped), CXX_COMPILER, BUILD_TYPE, CXX_FLAGS (may be empty).
foreach(var METAREC_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${what} failed (exit ${rc})")
  endif()
endfunction()

step("install into ${prefix}" ${CMAKE_COMMAND} --install ${METAREC_BUILD_DIR} --prefix ${prefix})
step("configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build}
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
     -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")

# The package must come from the fresh prefix, not from a copy installed elsewhere.
file(STRINGS ${build}/CMakeCache.txt found REGEX "^metarec_DIR:")
string(REPLACE "metarec_DIR:PATH=" "" found "${found}")
if(NOT found STREQUAL "${prefix}/share/metarec/cmake")
  message(FATAL_ERROR "consumer test: metarec was found in '${found}', expected ${prefix}/share/metarec/cmake")
endif()

step("build" ${CMAKE_COMMAND} --build ${build})
step("run" ${build}/consumer)
step("run (metarec::native)" ${build}/consumer_native)
