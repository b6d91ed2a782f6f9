# Runs PROGRAM on 3 ranks; rank 1 throws (MODE empty) or is killed (MODE kill,
# or MODE checkpoint: killed during training while rank 0 writes a checkpoint
# after every epoch, in WORK). Passes when mpirun exits non-zero within 30 s
# and its output names rank 1; with MODE checkpoint the last checkpoint must
# also load and resume (one process).
set(args ${MODE})
if(MODE STREQUAL "checkpoint")
  file(REMOVE_RECURSE ${WORK})
  file(MAKE_DIRECTORY ${WORK})
  list(APPEND args ${WORK})
endif()
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${MPIEXEC} -np 3 --oversubscribe ${PROGRAM} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
message(STATUS "mpirun ${MODE}: rc=${rc} after ${seconds} s\n${out}${err}")
if(rc EQUAL 0 OR rc MATCHES "timeout")
  message(FATAL_ERROR "expected a non-zero exit within 30 s, got '${rc}'")
endif()
if(MODE STREQUAL "")
  set(expected "rank 1 of 3 failed: injected failure")
else()
  set(expected "rank 1 with PID [0-9]+ on node [^ ]+ exited on signal 9")
endif()
if(NOT "${out}${err}" MATCHES "${expected}")
  message(FATAL_ERROR "the output does not name the failing rank ('${expected}')")
endif()
if(MODE STREQUAL "checkpoint")
  if(NOT EXISTS ${WORK}/last.ckpt)
    message(FATAL_ERROR "no checkpoint in ${WORK}")
  endif()
  execute_process(COMMAND ${MPIEXEC} -np 1 ${PROGRAM} resume ${WORK}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
  message(STATUS "resume: rc=${rc}\n${out}${err}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "resumed from epoch [12], trained to epoch [23]")
    message(FATAL_ERROR "the last checkpoint did not load and resume")
  endif()
endif()
