# Runs PROGRAM on 3 ranks; rank 1 throws (MODE empty) or is killed (MODE kill).
# Passes when mpirun exits non-zero within 30 s and its output names rank 1.
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${MPIEXEC} -np 3 --oversubscribe ${PROGRAM} ${MODE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
message(STATUS "mpirun ${MODE}: rc=${rc} after ${seconds} s\n${out}${err}")
if(rc EQUAL 0 OR rc MATCHES "timeout")
  message(FATAL_ERROR "expected a non-zero exit within 30 s, got '${rc}'")
endif()
if(MODE STREQUAL "kill")
  set(expected "rank 1 with PID [0-9]+ on node [^ ]+ exited on signal 9")
else()
  set(expected "rank 1 of 3 failed: injected failure")
endif()
if(NOT "${out}${err}" MATCHES "${expected}")
  message(FATAL_ERROR "the output does not name the failing rank ('${expected}')")
endif()
