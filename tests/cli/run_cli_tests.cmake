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
expect_run(2 "negatives_per = sequence is read by sampled_softmax and gbce only" ${TOOL} train --data ${WORK}/ring.txt
           --negatives-per sequence)
expect_run(2 "--negatives-per" ${TOOL} train --data ${WORK}/ring.txt --loss gbce --negatives-per position)
expect_run(2 "logq = false is read by sampled_softmax only" ${TOOL} train --data ${WORK}/ring.txt --loss gbce --logq off)
expect_run(2 "K = 7 was not requested" ${TOOL} train --data ${WORK}/ring.txt --select-metric HR@7)
expect_run(2 "unknown metric .AUC." ${TOOL} train --data ${WORK}/ring.txt --select-metric AUC)
expect_run(2 "eval_negatives = 0 is out of range" ${TOOL} train --data ${WORK}/ring.txt --eval sampled --eval-negatives 0)
expect_run(2 "--loss" ${TOOL} train --data ${WORK}/ring.txt --loss softmax)
foreach(loss ce bce bpr sampled-softmax gbce)
  expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
             --loss ${loss} --negatives 8 --out ${WORK}/run_${loss})
endforeach()
expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
           --loss sampled-softmax --negatives 8 --sampling popularity --eval sampled --eval-negatives 10
           --eval-sampling popularity --sparse-items --out ${WORK}/run_sampled)
# K draws per sequence: trains, and the record says so.
expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
           --loss sampled-softmax --negatives 8 --negatives-per sequence --logq off --select-metric HR@10
           --out ${WORK}/run_per_sequence)
file(READ ${WORK}/run_per_sequence/result.json per_sequence_record)
string(JSON per GET "${per_sequence_record}" config trainer negatives_per)
string(JSON logq GET "${per_sequence_record}" config trainer logq)
string(JSON selected GET "${per_sequence_record}" config trainer select_metric)
if(NOT per STREQUAL "sequence" OR logq OR NOT selected STREQUAL "HR@10")
  message(FATAL_ERROR "result.json: config.trainer negatives_per '${per}', logq '${logq}', select_metric '${selected}'")
endif()
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

# Transformer block settings: recorded in result.json, the checkpoint reloads them; the default is post-LN.
string(JSON default_pre GET "${result}" config model backbone norm_first)
if(default_pre)
  message(FATAL_ERROR "result.json: norm_first ${default_pre} by default (expected false)")
endif()
expect_run(0 "test: HR@5=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config.json --threads 1
           --norm-first --final-norm --attn-dropout 0 --out ${WORK}/run_preln)
file(READ ${WORK}/run_preln/result.json preln)
string(JSON pre GET "${preln}" config model backbone norm_first)
string(JSON fin GET "${preln}" config model backbone final_norm)
string(JSON adrop GET "${preln}" config model backbone attn_dropout)
if(NOT pre OR NOT fin OR NOT adrop EQUAL 0)
  message(FATAL_ERROR "result.json config.model.backbone: norm_first ${pre}, final_norm ${fin}, attn_dropout ${adrop}")
endif()
expect_run(0 "\"test\"" ${TOOL} evaluate --checkpoint ${WORK}/run_preln/model.ckpt)
expect_run(2 "heads = 3 does not divide d = 512" ${TOOL} train --data ${WORK}/ring.txt --d 512 --heads 3)

# --config: keys with _ or -, flags as booleans, lists; errors name the file and the key.
file(WRITE ${WORK}/config2.json "{\"epochs\": 1, \"d\": 16, \"heads\": 2, \"inner\": 32, \"layers\": 1, \"max_len\": 10, \"attn_dropout\": 0.0, \"norm_first\": true, \"mask_history\": true, \"ks\": [5, 10], \"loss\": \"gbce\", \"negatives\": 8}")
expect_run(0 "test: HR@5=.*NDCG@10=" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/config2.json --threads 1
           --out ${WORK}/run_config2)
file(READ ${WORK}/run_config2/result.json cfg2)
string(JSON pre GET "${cfg2}" config model backbone norm_first)
string(JSON masked GET "${cfg2}" protocol mask_history)
string(JSON len GET "${cfg2}" config model max_len)
if(NOT pre OR NOT masked OR NOT len EQUAL 10)
  message(FATAL_ERROR "--config: norm_first ${pre}, mask_history ${masked}, max_len ${len}")
endif()
file(WRITE ${WORK}/unknown.json "{\"epochs\": 1, \"layer\": 2}")
expect_run(2 "unknown.json': unknown key 'layer'" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/unknown.json)
file(WRITE ${WORK}/badtype.json "{\"layers\": [1, 2]}")
expect_run(2 "key 'layers' takes one value" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/badtype.json)
file(WRITE ${WORK}/badflag.json "{\"mask_history\": 1}")
expect_run(2 "key 'mask_history' is a flag" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/badflag.json)
file(WRITE ${WORK}/badvalue.json "{\"layers\": \"two\"}")
expect_run(2 "--layers: 'two' is not a valid value .*badvalue.json" ${TOOL} train --data ${WORK}/ring.txt
           --config ${WORK}/badvalue.json)
file(WRITE ${WORK}/badrange.json "{\"d\": 0}")
expect_run(2 "d = 0 is out of range.*badrange.json" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/badrange.json)
file(WRITE ${WORK}/notobject.json "[1, 2]")
expect_run(2 "JSON object" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/notobject.json)
expect_run(2 "cannot open config file" ${TOOL} train --data ${WORK}/ring.txt --config ${WORK}/missing.json)
expect_run(2 "reads config files" ${TOOL} stats ${WORK}/ring.txt --config ${WORK}/config.json)

# tune: a seeded random search, each trial a train run; the same seed draws the same trials, and the best
# trial's config loads in train --config.
file(WRITE ${WORK}/space.json "{\"dropout\": [0.1, 0.3], \"layers\": [1, 2], \"lr\": {\"log_uniform\": [1e-3, 1e-2]}, \"norm_first\": [false, true]}")
set(tune_common --data ${WORK}/ring.txt --trials 3 --seed 5 --epochs 2 --d 16 --heads 2 --inner 32 --max-len 10
    --threads 1)
set(tune_args ${tune_common} --space ${WORK}/space.json)
expect_run(0 "valid NDCG@10.*best: trial" ${TOOL} tune ${tune_args} --out ${WORK}/tune1)
expect_run(0 "best: trial" ${TOOL} tune ${tune_args} --out ${WORK}/tune2 --median-stop-at 1,2 --eval-every 1
           --median-startup-trials 1)
foreach(f trials.jsonl best.json search.json trial-000/result.json trial-002/model.ckpt)
  if(NOT EXISTS ${WORK}/tune1/${f})
    message(FATAL_ERROR "tune did not write ${f}")
  endif()
endforeach()
file(STRINGS ${WORK}/tune1/trials.jsonl lines1)
file(STRINGS ${WORK}/tune2/trials.jsonl lines2)
list(LENGTH lines1 n1)
if(NOT n1 EQUAL 3)
  message(FATAL_ERROR "trials.jsonl has ${n1} lines (expected 3)")
endif()
set(all_params "")
foreach(i RANGE 2)
  list(GET lines1 ${i} l1)
  list(GET lines2 ${i} l2)
  string(JSON p1 GET "${l1}" params)
  string(JSON p2 GET "${l2}" params)
  string(JSON v1 GET "${l1}" valid NDCG@10)
  string(JSON e1 GET "${l1}" best_epoch)
  string(JSON secs GET "${l1}" seconds)
  string(JSON t1 GET "${l1}" test HR@10)
  if(NOT p1 STREQUAL p2)
    message(FATAL_ERROR "tune with the same seed drew different trial ${i}: ${p1} vs ${p2}")
  endif()
  list(APPEND all_params "${p1}")
endforeach()
list(REMOVE_DUPLICATES all_params)
list(LENGTH all_params distinct)
if(NOT distinct EQUAL 3)
  message(FATAL_ERROR "tune drew a combination twice: ${all_params}")
endif()
file(READ ${WORK}/tune1/best.json best)
string(JSON best_layers GET "${best}" layers)
string(JSON best_seed GET "${best}" seed)
if(NOT best_seed EQUAL 5)
  message(FATAL_ERROR "best.json: seed ${best_seed} (expected 5)")
endif()
# Retraining the best trial from best.json (same host, seed and threads) reproduces it bit for bit.
expect_run(0 "test: HR@5=" ${TOOL} train --config ${WORK}/tune1/best.json --threads 1 --out ${WORK}/run_best)
file(READ ${WORK}/run_best/result.json rbest)
string(JSON got_layers GET "${rbest}" config model backbone layers)
string(JSON got_ndcg GET "${rbest}" test NDCG@10)
set(best_ndcg "")
foreach(line IN LISTS lines1)
  string(JSON lp GET "${line}" params)
  string(JSON lp_layers GET "${lp}" layers)
  string(JSON lp_dropout GET "${lp}" dropout)
  string(JSON lp_lr GET "${lp}" lr)
  string(JSON b_dropout GET "${best}" dropout)
  string(JSON b_lr GET "${best}" lr)
  if(lp_layers EQUAL best_layers AND lp_dropout STREQUAL b_dropout AND lp_lr STREQUAL b_lr)
    string(JSON best_ndcg GET "${line}" test NDCG@10)
  endif()
endforeach()
if(NOT got_layers EQUAL best_layers OR NOT got_ndcg STREQUAL best_ndcg)
  message(FATAL_ERROR "train --config best.json: layers ${got_layers} (best.json: ${best_layers}), test NDCG@10 "
                      "${got_ndcg} (the best trial's: '${best_ndcg}')")
endif()
file(WRITE ${WORK}/badspace.json "{\"dropouts\": [0.1]}")
expect_run(2 "badspace.json': unknown key 'dropouts'" ${TOOL} tune ${tune_common} --space ${WORK}/badspace.json
           --out ${WORK}/tune_bad)
file(WRITE ${WORK}/badrange_space.json "{\"lr\": {\"log_uniform\": [0, 1]}}")
expect_run(2 "0 < low < high" ${TOOL} tune ${tune_common} --space ${WORK}/badrange_space.json --out ${WORK}/tune_bad)
expect_run(2 "multiple of --eval-every" ${TOOL} tune ${tune_args} --out ${WORK}/tune_bad --median-stop-at 3 --eval-every 2)

# featurize (TF-IDF + SVD text features) -> pretrain -> finetune on the ring world.
metarec_write_ring_items(${WORK}/ring.item)
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
# finetune --checkpoint-every / --resume: 3 epochs in one go, and 2 epochs + resume to 3, write the same
# model bit for bit (dropout on; the resumed run rediscovers the interests the uninterrupted one had).
set(ft_run finetune --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy --from ${WORK}/pre/model.ckpt
    --batch-size 16 --threads 1)
expect_run(0 "test: HR@5=" ${TOOL} ${ft_run} --epochs 3 --out ${WORK}/ft_run)
expect_run(0 "test: HR@5=" ${TOOL} ${ft_run} --epochs 2 --checkpoint-every 1 --out ${WORK}/ft_part)
expect_run(0 "test: HR@5=" ${TOOL} ${ft_run} --epochs 3 --resume ${WORK}/ft_part/last.ckpt --out ${WORK}/ft_resumed)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/ft_run/model.ckpt ${WORK}/ft_resumed/model.ckpt
                RESULT_VARIABLE ft_differ)
file(READ ${WORK}/ft_resumed/result.json ft_record)
string(JSON ft_epochs LENGTH "${ft_record}" history)
string(JSON ft_from GET "${ft_record}" resumed epoch)
# Epoch 3's training loss: the same bits only if the resumed run restored the parameters, the optimizer and
# the interests (model.ckpt holds the best epoch's parameters, which may be an earlier one).
string(JSON ft_loss_resumed GET "${ft_record}" history 2 loss)
file(READ ${WORK}/ft_run/result.json ft_straight_record)
string(JSON ft_loss_straight GET "${ft_straight_record}" history 2 loss)
if(ft_differ OR NOT ft_epochs EQUAL 3 OR NOT ft_from EQUAL 2 OR NOT ft_loss_resumed STREQUAL ft_loss_straight)
  message(FATAL_ERROR "finetune 3 epochs vs 2 + resume: model.ckpt differ=${ft_differ}, history ${ft_epochs} epochs, "
                      "resumed from ${ft_from}, epoch 3 loss ${ft_loss_straight} vs ${ft_loss_resumed}")
endif()
expect_run(2 "only --epochs and --patience may change.*mode: \"full\" in the checkpoint, \"peft\" on the command line"
           ${TOOL} ${ft_run} --mode peft --resume ${WORK}/ft_part/last.ckpt)
expect_run(1 "written by 'metarec train', not by metarec finetune" ${TOOL} ${ft_run} --resume ${WORK}/part/last.ckpt)
expect_run(2 "--checkpoint-every writes OUT/last.ckpt: give --out" ${TOOL} ${ft_run} --checkpoint-every 1)
# A last.ckpt also seeds a fine-tuning with --from (it carries the model's settings).
expect_run(0 "test: HR@5=" ${TOOL} finetune --data ${WORK}/ring.txt --format s3rec --features ${WORK}/ring.npy
           --from ${WORK}/ft_part/last.ckpt --epochs 1 --threads 1)
message(STATUS "cli: all checks passed")
