# Runs PROGRAM on 3 ranks; rank 1 throws. Passes when mpirun exits non-zero
# within 30 s and the output names rank 1.
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${MPIEXEC} -np 3 --oversubscribe ${PROGRAM}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
message(STATUS "mpirun: rc=${rc} after ${seconds} s\n${out}${err}")
if(rc EQUAL 0 OR rc MATCHES "timeout")
  message(FATAL_ERROR "expected a non-zero exit within 30 s, got '${rc}'")
endif()
if(NOT "${out}${err}" MATCHES "rank 1 of 3 failed: injected failure")
  message(FATAL_ERROR "the output does not name the failing rank")
endif()
