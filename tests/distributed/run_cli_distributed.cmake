# `mpirun -np 2 metarec train --distributed` against one process on the CLI's
# ring world (dropout 0, so the two train the same model up to float
# rounding), and 1 epoch on 2 ranks with --checkpoint-every, resumed to 2
# epochs on 3 ranks; `metarec transfer --distributed` (3 sources on 2 ranks)
# gives one process's numbers; `metarec evaluate --distributed` on 2 and 3
# ranks gives one process's metrics, and MISSRec `finetune --distributed` on 2
# ranks one process's, also when checkpointed on 2 ranks and resumed on 3.
# Variables: MPIEXEC, TOOL, WORK.
include(${CMAKE_CURRENT_LIST_DIR}/../cli/ring_data.cmake)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
metarec_write_ring(${WORK}/ring.txt)
set(common train --data ${WORK}/ring.txt --d 16 --heads 2 --inner 32 --layers 1 --max-len 10
    --batch-size 16 --dropout 0 --attn-dropout 0 --lr 0.002 --threads 1)
set(args ${common} --epochs 2)  # short: metrics not yet saturated
# one_and_two_ranks(NAME args...): runs `TOOL args --out WORK/NAME_one` and the same under `mpirun -np 2
# ... --distributed --out WORK/NAME_two`; both exit 0, rank 0 alone prints (one test line, one effective
# config), result.json records 2 ranks and the dense bytes per step; sets NAME_one / NAME_two to the records.
function(one_and_two_ranks name)
  execute_process(COMMAND ${TOOL} ${ARGN} --out ${WORK}/${name}_one
                  RESULT_VARIABLE rc1 OUTPUT_VARIABLE out1 ERROR_VARIABLE err1 TIMEOUT 60)
  execute_process(COMMAND ${MPIEXEC} -np 2 --oversubscribe ${TOOL} ${ARGN} --distributed --out ${WORK}/${name}_two
                  RESULT_VARIABLE rc2 OUTPUT_VARIABLE out2 ERROR_VARIABLE err2 TIMEOUT 60)
  if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
    message(FATAL_ERROR "${name}: exit codes ${rc1} / ${rc2}\n${out1}${err1}\n${out2}${err2}")
  endif()
  string(REGEX MATCHALL "test: HR@5=" tests "${out2}")
  string(REGEX MATCHALL "effective config" configs "${err2}")
  list(LENGTH tests n_tests)
  list(LENGTH configs n_configs)
  if(NOT n_tests EQUAL 1 OR NOT n_configs EQUAL 1)
    message(FATAL_ERROR "${name}: expected one test line and one config line, got ${n_tests} and ${n_configs}:\n${out2}${err2}")
  endif()
  file(READ ${WORK}/${name}_one/result.json one)
  file(READ ${WORK}/${name}_two/result.json two)
  string(JSON ranks GET "${two}" distributed ranks)
  string(JSON bytes GET "${two}" distributed dense_payload_bytes_per_step)
  if(NOT ranks EQUAL 2 OR bytes LESS_EQUAL 0)
    message(FATAL_ERROR "${name} result.json distributed: ranks ${ranks}, dense bytes/step ${bytes}")
  endif()
  set(${name}_one "${one}" PARENT_SCOPE)
  set(${name}_two "${two}" PARENT_SCOPE)
endfunction()
one_and_two_ranks(train ${args})
set(one "${train_one}")
# CMake's math() has integers only: metrics in 1e-6 units (values in [0, 1];
# an exponent form like 5e-05 is below one unit's relevance and reads as 0).
function(micro_units value out)
  if(value MATCHES "e-")
    set(${out} 0 PARENT_SCOPE)
    return()
  endif()
  string(REGEX MATCH "^([0-9]*)\\.?([0-9]*)" _ "${value}")
  set(int "${CMAKE_MATCH_1}")
  if(int STREQUAL "")
    set(int 0)
  endif()
  string(SUBSTRING "${CMAKE_MATCH_2}000000" 0 6 frac)
  math(EXPR u "${int} * 1000000 + 1${frac} - 1000000")
  set(${out} ${u} PARENT_SCOPE)
endfunction()
# Metrics within one of the 60 test cases (1/60 = 16667 units): rounding may swap a near tie.
function(expect_close_metrics one other label)
  foreach(m "HR@10" "NDCG@10" "MRR")
    string(JSON a GET "${one}" test "${m}")
    string(JSON b GET "${other}" test "${m}")
    micro_units("${a}" ua)
    micro_units("${b}" ub)
    math(EXPR diff "${ua} - ${ub}")
    if(diff LESS 0)
      math(EXPR diff "0 - ${diff}")
    endif()
    message(STATUS "test ${m}: one process ${a}, ${label} ${b}")
    if(diff GREATER 16667)
      message(FATAL_ERROR "test ${m} differs by more than one case (${label})")
    endif()
  endforeach()
endfunction()
expect_close_metrics("${one}" "${train_two}" "two ranks")

# `metarec evaluate --distributed`: the cases split over 2 and 3 ranks (3: uneven blocks) give one process's
# metrics; rank 0 alone prints one JSON object, which records the ranks.
execute_process(COMMAND ${TOOL} evaluate --checkpoint ${WORK}/train_one/model.ckpt --threads 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE eval_one ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "evaluate: exit code ${rc}\n${eval_one}${err}")
endif()
foreach(np 2 3)
  execute_process(COMMAND ${MPIEXEC} -np ${np} --oversubscribe ${TOOL} evaluate --checkpoint ${WORK}/train_one/model.ckpt
                          --threads 1 --distributed
                  RESULT_VARIABLE rc OUTPUT_VARIABLE eval_n ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "evaluate --distributed on ${np} ranks: exit code ${rc}\n${eval_n}${err}")
  endif()
  string(REGEX MATCHALL "\"test\"" prints "${eval_n}")
  list(LENGTH prints n_prints)
  string(JSON ranks GET "${eval_n}" distributed ranks)
  if(NOT n_prints EQUAL 1 OR NOT ranks EQUAL ${np})
    message(FATAL_ERROR "evaluate --distributed on ${np} ranks: ${n_prints} printed results, ranks ${ranks}:\n${eval_n}")
  endif()
  expect_close_metrics("${eval_one}" "${eval_n}" "evaluate on ${np} ranks")
endforeach()

# checkpoint_and_resume(NAME UNTIL TOTAL REFERENCE args...): `args --epochs UNTIL --checkpoint-every 1` on 2 ranks
# (rank 0 writes), then resumed to TOTAL epochs on 3 ranks; the resumed run must say so and match REFERENCE's metrics.
function(checkpoint_and_resume name until total reference)
  execute_process(COMMAND ${MPIEXEC} -np 2 --oversubscribe ${TOOL} ${ARGN} --epochs ${until} --distributed
                          --checkpoint-every 1 --out ${WORK}/${name}_ck RESULT_VARIABLE rc3 OUTPUT_VARIABLE out3 ERROR_VARIABLE err3 TIMEOUT 60)
  execute_process(COMMAND ${MPIEXEC} -np 3 --oversubscribe ${TOOL} ${ARGN} --epochs ${total} --distributed
                          --resume ${WORK}/${name}_ck/last.ckpt --out ${WORK}/${name}_resumed
                          RESULT_VARIABLE rc4 OUTPUT_VARIABLE out4 ERROR_VARIABLE err4 TIMEOUT 60)
  if(NOT rc3 EQUAL 0 OR NOT rc4 EQUAL 0)
    message(FATAL_ERROR "${name}: exit codes ${rc3} / ${rc4}\n${out3}${err3}\n${out4}${err4}")
  endif()
  file(READ ${WORK}/${name}_resumed/result.json resumed)
  string(JSON ranks GET "${resumed}" distributed ranks)
  string(JSON from GET "${resumed}" resumed epoch)
  string(JSON epochs LENGTH "${resumed}" history)
  if(NOT ranks EQUAL 3 OR NOT from EQUAL ${until} OR NOT epochs EQUAL ${total})
    message(FATAL_ERROR "${name} resumed result.json: ranks ${ranks}, resumed from epoch ${from}, ${epochs} epochs")
  endif()
  expect_close_metrics("${reference}" "${resumed}" "${name}: 2 ranks + resume on 3 ranks")
endfunction()
checkpoint_and_resume(train 1 2 "${one}" ${common})

# MISSRec `metarec finetune --distributed` (from scratch, dropout 0, lr 0.01 so 4 epochs learn): 2 ranks against one process, within one case.
metarec_write_ring_items(${WORK}/ring.item)
execute_process(COMMAND ${TOOL} featurize --text ${WORK}/ring.item --format games-item --dim 4 --out ${WORK}/ring.npy
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "featurize: exit code ${rc}\n${out}${err}")
endif()
one_and_two_ranks(finetune finetune --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy --d 16 --heads 2
                  --inner 32 --max-len 10 --dropout 0 --attn-dropout 0 --lr 0.01 --epochs 4 --batch-size 16 --threads 1)
expect_close_metrics("${finetune_one}" "${finetune_two}" "finetune on two ranks")
# The same checkpoint on 2 ranks after epoch 2, resumed to epoch 4 on 3 ranks: one process's 4 epochs.
checkpoint_and_resume(finetune 2 4 "${finetune_one}" finetune --data ${WORK}/ring.txt --format s3rec
                      --features ${WORK}/ring.npy --d 16 --heads 2 --inner 32 --max-len 10 --dropout 0 --attn-dropout 0
                      --lr 0.01 --batch-size 16 --threads 1)

# Per-source meta-training: 3 sources on 2 ranks (2 + 1) give one process's result, bit for bit
# (the learner sums the gathered per-source blocks in source order): same similarities, weights and metrics.
foreach(name a b c)
  metarec_write_ring(${WORK}/src_${name}.txt)
endforeach()
set(transfer_args transfer --sources ${WORK}/src_a.txt,${WORK}/src_b.txt,${WORK}/src_c.txt --target ${WORK}/ring.txt
    --meta rescaled,reptile --meta-iterations 3 --inner-steps 2 --epochs 1 --d 16 --heads 2 --inner 32 --layers 1
    --max-len 10 --batch-size 16 --threads 1 --quiet)
execute_process(COMMAND ${TOOL} ${transfer_args} --out ${WORK}/transfer_one
                RESULT_VARIABLE rc5 OUTPUT_VARIABLE out5 ERROR_VARIABLE err5 TIMEOUT 60)
execute_process(COMMAND ${MPIEXEC} -np 2 --oversubscribe ${TOOL} ${transfer_args} --distributed --out ${WORK}/transfer_two
                RESULT_VARIABLE rc6 OUTPUT_VARIABLE out6 ERROR_VARIABLE err6 TIMEOUT 60)
if(NOT rc5 EQUAL 0 OR NOT rc6 EQUAL 0)
  message(FATAL_ERROR "transfer exit codes ${rc5} / ${rc6}\n${out5}${err5}\n${out6}${err6}")
endif()
string(REGEX MATCHALL "effective config" configs "${err6}")
list(LENGTH configs n_configs)
if(NOT n_configs EQUAL 1)
  message(FATAL_ERROR "transfer --distributed: expected one config line (rank 0), got ${n_configs}")
endif()
file(READ ${WORK}/transfer_one/transfer.json t1)
file(READ ${WORK}/transfer_two/transfer.json t2)
string(JSON ranks GET "${t2}" config ranks)
if(NOT ranks EQUAL 2)
  message(FATAL_ERROR "transfer.json config.ranks = ${ranks}")
endif()
foreach(run 0 1)
  foreach(field test iterations)
    string(JSON a GET "${t1}" runs ${run} ${field})
    string(JSON b GET "${t2}" runs ${run} ${field})
    if(NOT a STREQUAL b)
      message(FATAL_ERROR "transfer run ${run}: ${field} differs between 1 process and 2 ranks:\n${a}\n${b}")
    endif()
  endforeach()
  string(JSON method GET "${t2}" runs ${run} method)
  string(JSON ndcg GET "${t2}" runs ${run} test "NDCG@10")
  message(STATUS "transfer ${method}: test NDCG@10 ${ndcg} with 1 process and 2 ranks")
endforeach()
