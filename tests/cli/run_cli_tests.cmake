# Drives the metarec tool: argument errors exit with 2 and one line; a tiny
# synthetic dataset trains, evaluates and recommends. Variables: TOOL, WORK.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(expect_run code pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "expected exit ${code}, got ${rc}: ${ARGN}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(pattern AND NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "output of ${ARGN} does not match '${pattern}':\n${out}${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/ring_data.cmake)
metarec_write_ring(${WORK}/ring.txt)
file(WRITE ${WORK}/bad.txt "1 1 2 3\n2 4 x 6\n")
file(WRITE ${WORK}/config.json "{\"epochs\": 3, \"d\": 16, \"heads\": 2, \"inner\": 32, \"layers\": 1, \"max-len\": 10}")

expect_run(2 "unknown|not expected|extras" ${TOOL} train --data ${WORK}/ring.txt --no-such-flag)
expect_run(2 "d = 0 is out of range" ${TOOL} train --data ${WORK}/ring.txt --d 0)
expect_run(2 "heads = 3 does not divide d = 16" ${TOOL} train --data ${WORK}/ring.txt --d 16 --heads 3)
# Each policy's Config::validate() names its own fields; options of the policies not chosen are not read.
expect_run(2 "gru_hidden = -1 is out of range" ${TOOL} train --data ${WORK}/ring.txt --backbone gru4rec --gru-hidden -1)
expect_run(2 "mask_prob = 1.50* is out of range" ${TOOL} train --data ${WORK}/ring.txt --backbone bert4rec --mask-prob 1.5)
expect_run(2 "quantizer.heads = 3 does not divide d = 64" ${TOOL} train --data ${WORK}/ring.txt --quantizer vq --vq-heads 3)
expect_run(2 "--layers: 'two' is not a valid value" ${TOOL} train --data ${WORK}/ring.txt --layers two)
expect_run(2 "meta.temperature" ${TOOL} transfer --sources ${WORK}/ring.txt --target ${WORK}/ring.txt --meta rescaled --temperature 0)
expect_run(2 "meta.reptile_step" ${TOOL} transfer --sources ${WORK}/ring.txt --target ${WORK}/ring.txt --meta reptile --reptile-step -1)
expect_run(1 "bad.txt:2: field 'item 2': non-integer item id 'x'" ${TOOL} train --data ${WORK}/bad.txt)
expect_run(1 "cannot open|No such file|does not exist" ${TOOL} stats ${WORK}/missing.txt)
expect_run(0 "Usage|usage" ${TOOL} train --help)
expect_run(0 "users +60" ${TOOL} stats ${WORK}/ring.txt)
expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1 --out ${WORK}/run)
if(NOT EXISTS ${WORK}/run/result.json OR NOT EXISTS ${WORK}/run/model.ckpt)
  message(FATAL_ERROR "train --out did not write result.json and model.ckpt")
endif()
file(READ ${WORK}/run/result.json result)
foreach(key config best_epoch valid test timing train_sequences_per_s eval_users_per_s train_seconds "NDCG@10" "HR@50")
  if(NOT result MATCHES "\"${key}\"")
    message(FATAL_ERROR "result.json lacks ${key}")
  endif()
endforeach()
# The evaluation protocol is recorded: full ranking, history not masked by default.
string(JSON ranking GET "${result}" protocol ranking)
string(JSON masked GET "${result}" protocol mask_history)
if(NOT ranking STREQUAL "full" OR masked)
  message(FATAL_ERROR "result.json protocol: ranking ${ranking}, mask_history ${masked} (expected full, false)")
endif()
# The losses with negatives shared by a batch; TrainerConfig::validate() names their fields.
expect_run(2 "negatives = 0 is out of range" ${TOOL} train --data ${WORK}/ring.txt --loss sampled-softmax --negatives 0)
expect_run(2 "gbce_t = 2" ${TOOL} train --data ${WORK}/ring.txt --loss gbce --gbce-t 2)
expect_run(2 "popularity is for sampled_softmax" ${TOOL} train --data ${WORK}/ring.txt --loss gbce --sampling popularity)
expect_run(2 "eval_negatives = 0 is out of range" ${TOOL} train --data ${WORK}/ring.txt --eval sampled --eval-negatives 0)
expect_run(2 "--loss" ${TOOL} train --data ${WORK}/ring.txt --loss softmax)
foreach(loss ce bce bpr sampled-softmax gbce)
  expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
             --loss ${loss} --negatives 8 --out ${WORK}/run_${loss})
endforeach()
expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
           --loss sampled-softmax --negatives 8 --sampling popularity --eval sampled --eval-negatives 10
           --eval-sampling popularity --sparse-items --out ${WORK}/run_sampled)
file(READ ${WORK}/run_sampled/result.json sampled_record)
string(JSON ranking GET "${sampled_record}" protocol ranking)
string(JSON n_neg GET "${sampled_record}" protocol negatives)
string(JSON how GET "${sampled_record}" config trainer sampling)
if(NOT ranking STREQUAL "sampled" OR NOT n_neg EQUAL 10 OR NOT how STREQUAL "popularity")
  message(FATAL_ERROR "result.json: protocol ${ranking} / ${n_neg}, training sampling ${how}")
endif()
# The settings from --config reached SASRec's own Config (and are recorded there).
string(JSON blocks GET "${result}" config model backbone layers)
string(JSON width GET "${result}" config model d)
if(NOT blocks EQUAL 1 OR NOT width EQUAL 16)
  message(FATAL_ERROR "result.json config.model: layers ${blocks}, d ${width} (expected 1, 16)")
endif()
expect_run(0 "\"test\"" ${TOOL} evaluate --checkpoint ${WORK}/run/model.ckpt)
expect_run(0 "\"rank\": 3" ${TOOL} recommend --checkpoint ${WORK}/run/model.ckpt --user 5 -k 3)
expect_run(2 "no such user" ${TOOL} recommend --checkpoint ${WORK}/run/model.ckpt --user nobody)
file(WRITE ${WORK}/broken.ckpt "MRECCKPT garbage")
expect_run(1 "truncated|checksum|unsupported version" ${TOOL} evaluate --checkpoint ${WORK}/broken.ckpt)
# --checkpoint-every / --resume: 3 epochs in one go, and 2 epochs + resume to 3, write the same model bit
# for bit (dropout on: every random stream restarts from (seed, epoch)).
set(ring_run train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1)
expect_run(0 "test: HR@5=" ${TOOL} ${ring_run} --epochs 2 --checkpoint-every 1 --out ${WORK}/part)
expect_run(0 "\"test\"" ${TOOL} evaluate --checkpoint ${WORK}/part/last.ckpt)
expect_run(0 "test: HR@5=" ${TOOL} ${ring_run} --resume ${WORK}/part/last.ckpt --out ${WORK}/resumed)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/run/model.ckpt ${WORK}/resumed/model.ckpt
                RESULT_VARIABLE differ)
file(READ ${WORK}/resumed/result.json resumed_record)
string(JSON resumed_epochs LENGTH "${resumed_record}" history)
string(JSON resumed_from GET "${resumed_record}" resumed epoch)
string(JSON straight_test GET "${result}" test)
string(JSON resumed_test GET "${resumed_record}" test)
if(differ OR NOT resumed_epochs EQUAL 3 OR NOT resumed_from EQUAL 2 OR NOT straight_test STREQUAL resumed_test)
  message(FATAL_ERROR "3 epochs vs 2 + resume: model.ckpt differ=${differ}, history ${resumed_epochs} epochs, "
                      "resumed from ${resumed_from}\n${straight_test}\n${resumed_test}")
endif()
expect_run(2 "only --epochs and --patience may change.*model.d: 16 in the checkpoint, 32 on the command line"
           ${TOOL} ${ring_run} --d 32 --resume ${WORK}/part/last.ckpt)
expect_run(2 "trainer.lr: 0.001 in the checkpoint, 0.5 on the command line" ${TOOL} ${ring_run} --lr 0.5
           --resume ${WORK}/part/last.ckpt)
expect_run(1 "not a resumable training checkpoint" ${TOOL} ${ring_run} --resume ${WORK}/run/model.ckpt)
expect_run(1 "truncated|checksum|unsupported version" ${TOOL} ${ring_run} --resume ${WORK}/broken.ckpt)
expect_run(2 "--resume: File does not exist" ${TOOL} ${ring_run} --resume ${WORK}/missing.ckpt)
expect_run(2 "--checkpoint-every writes OUT/last.ckpt: give --out" ${TOOL} ${ring_run} --checkpoint-every 1)
expect_run(2 "'joint' runs in one process" ${TOOL} transfer --sources ${WORK}/ring.txt --target ${WORK}/ring.txt
           --meta joint --distributed)
expect_run(2 "target-fraction" ${TOOL} transfer --sources ${WORK}/ring.txt --target ${WORK}/ring.txt --target-fraction 1.5)

# featurize (TF-IDF + SVD text features) -> pretrain -> finetune on the ring world.
set(items "item_id:token\ttitle:token_seq\n")
foreach(i RANGE 0 19)
  math(EXPR g "${i} % 4")
  string(APPEND items "${i}\tring piece number${i} of group${g}. shop${g}\n")
endforeach()
file(WRITE ${WORK}/ring.item "${items}")
expect_run(2 "dim" ${TOOL} featurize --text ${WORK}/ring.item --format games-item --dim 0 --out ${WORK}/f.npy)
expect_run(2 "does not exist" ${TOOL} featurize --text ${WORK}/none.item --format games-item --dim 4 --out ${WORK}/f.npy)
expect_run(0 "20" ${TOOL} featurize --text ${WORK}/ring.item --format games-item --dim 4 --out ${WORK}/ring.npy)
# Joint featurize: several corpora (each --text followed by its own --format/--item2index/--out), one shared basis.
file(WRITE ${WORK}/shop.text "item_id:token\ttext:token_seq\nA9\tring piece number3 of group3. shop3\nA1\tsilver ring of group1\nA5\t\n")
file(WRITE ${WORK}/shop.item2index "A1\t0\nA5\t1\nA9\t2\n")
expect_run(0 "corpus 2: 3 x 4, empty texts: 1" ${TOOL} featurize --text ${WORK}/ring.item --format games-item
           --out ${WORK}/joint_ring.npy --text ${WORK}/shop.text --item2index ${WORK}/shop.item2index
           --out ${WORK}/joint_shop.npy --dim 4 --threads 1)
if(NOT EXISTS ${WORK}/joint_ring.npy OR NOT EXISTS ${WORK}/joint_shop.npy)
  message(FATAL_ERROR "joint featurize did not write both .npy files")
endif()
expect_run(2 "corpus 2 .* has no --out" ${TOOL} featurize --text ${WORK}/ring.item --format games-item
           --out ${WORK}/j1.npy --text ${WORK}/shop.text --item2index ${WORK}/shop.item2index --dim 4)
expect_run(2 "corpus 2 .* has --out twice" ${TOOL} featurize --text ${WORK}/ring.item --text ${WORK}/shop.text
           --out ${WORK}/j1.npy --out ${WORK}/j2.npy --dim 4)
expect_run(2 "corpus 1 .* has --format twice" ${TOOL} featurize --format text --text ${WORK}/ring.item --format games-item
           --out ${WORK}/j1.npy --dim 4)
expect_run(2 "write the same --out" ${TOOL} featurize --text ${WORK}/ring.item --format games-item --out ${WORK}/j1.npy
           --text ${WORK}/ring.item --format games-item --out ${WORK}/./j1.npy --dim 4)
expect_run(2 "does not apply to --format games-item" ${TOOL} featurize --text ${WORK}/shop.text --item2index
           ${WORK}/shop.item2index --out ${WORK}/j1.npy --text ${WORK}/ring.item --format games-item
           --item2index ${WORK}/shop.item2index --out ${WORK}/j2.npy --dim 4)
expect_run(2 "interest" ${TOOL} pretrain --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy --interest-ratio 1.5)
expect_run(2 "encoder_layers = 0 is out of range" ${TOOL} pretrain --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy --encoder-layers 0)
expect_run(2 "keep = 0" ${TOOL} pretrain --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy --keep 0)
# --eval-every: full-ranking validation on each pre-training domain, at epoch 2 and at the end.
expect_run(0 "epoch   2 .*valid ring: HR@5=.*epoch   3 .*valid ring: HR@5=" ${TOOL} pretrain --data ${WORK}/ring.txt
           --format s3rec --features ${WORK}/ring.npy --d 16 --heads 2 --inner 32
           --max-len 10 --epochs 3 --eval-every 2 --batch-size 16 --threads 1 --out ${WORK}/pre)
expect_run(0 "\"prefix_samples\":false" ${TOOL} pretrain --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy
           --d 16 --heads 2 --inner 32 --max-len 10 --epochs 1 --batch-size 16 --no-prefix-samples --threads 1)
if(NOT EXISTS ${WORK}/pre/model.ckpt)
  message(FATAL_ERROR "pretrain --out did not write model.ckpt")
endif()
expect_run(0 "test: HR@5=" ${TOOL} finetune --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy
           --from ${WORK}/pre/model.ckpt --mode peft --epochs 2 --threads 1 --out ${WORK}/ft)
# A fine-tuned checkpoint also seeds another fine-tuning (supervised pre-training on a source).
expect_run(0 "test: HR@5=" ${TOOL} finetune --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy
           --from ${WORK}/ft/model.ckpt --epochs 1 --threads 1)
message(STATUS "cli: all checks passed")
