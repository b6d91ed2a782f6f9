# A user's own RecBole dataset through the metarec tool: featurize a RecBole
# atomic .item file in the item order of its .inter file, pre-train MISSRec
# 1 epoch and fine-tune it 1 epoch; the item index table (stats --items-out)
# and external id -> text tables for s3rec data; one-line errors naming file,
# line and field. Variables: TOOL, WORK, FIXTURES (tests/data/fixtures/recbole_mini).
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
  set(last_out "${out}${err}" PARENT_SCOPE)
endfunction()
# The shape in a .npy (version 1.0) header dict, after the 10-byte preamble: "'shape': (R, C)".
function(expect_npy_shape path rows cols)
  file(READ ${path} head OFFSET 10 LIMIT 118)
  if(NOT head MATCHES "'shape': \\(${rows}, ${cols}\\)")
    message(FATAL_ERROR "${path}: expected shape (${rows}, ${cols}), header: ${head}")
  endif()
endfunction()

set(inter ${FIXTURES}/mini.inter)
set(items ${FIXTURES}/mini.item)

# The issue's first symptom: the 2-column text reader names the way out.
expect_run(1 "mini.item:1: field 'header': .*--format atomic-item" ${TOOL} featurize --text ${items} --dim 8
           --out ${WORK}/x.npy)
expect_run(2 "atomic-item .* needs --items-from" ${TOOL} featurize --format atomic-item --text ${items} --dim 8
           --out ${WORK}/x.npy)
expect_run(2 "--fields applies to --format atomic-item only" ${TOOL} featurize --text ${items} --fields movie_title
           --items-from ${inter} --dim 8 --out ${WORK}/x.npy)

# featurize: default text = every token_seq column (movie_title + class), rows
# in the atomic item order of mini.inter; the 3 items without a .item row are
# counted (zero rows = missing modality), the .item row without interactions too.
expect_run(0 "fields=movie_title\\+class .*items: 43 \\(rows in the item order of --format atomic on .*mini.inter\\), without a text row \\(missing modality, zero row\\): 3, text rows not in the interactions: 1.*note: 3 of 43 items"
           ${TOOL} featurize --format atomic-item --text ${items} --items-from ${inter} --dim 8 --threads 1
           --out ${WORK}/mini.npy)
expect_npy_shape(${WORK}/mini.npy 43 8)
if(NOT last_out MATCHES "empty texts: 3 ->")
  message(FATAL_ERROR "featurize: the 3 items without text should be the empty (zero) rows:\n${last_out}")
endif()
expect_run(0 "fields=movie_title " ${TOOL} featurize --format atomic-item --text ${items} --fields movie_title
           --items-from ${inter} --items-format atomic --dim 4 --threads 1 --out ${WORK}/title.npy)
expect_npy_shape(${WORK}/title.npy 43 4)

# The index -> original id table: line r+1 is "id<TAB>r"; index 0 is the first
# item of the first record of mini.inter (atomic: order of first appearance).
expect_run(0 "item index table: 43 rows" ${TOOL} stats ${inter} --format atomic --items-out ${WORK}/mini.item2index)
file(STRINGS ${WORK}/mini.item2index table)
list(LENGTH table n)
file(STRINGS ${inter} inter_lines LIMIT_COUNT 2)
list(GET inter_lines 1 first_record)
string(REPLACE "\t" ";" first_record "${first_record}")
list(GET first_record 1 first_item)
list(GET table 0 row0)
if(NOT n EQUAL 43 OR NOT row0 STREQUAL "${first_item}\t0")
  message(FATAL_ERROR "stats --items-out: ${n} rows, first '${row0}', expected 43 rows starting '${first_item}<TAB>0'")
endif()
# --item2index with that table gives the same rows as --items-from.
expect_run(0 "" ${TOOL} featurize --format atomic-item --text ${items} --item2index ${WORK}/mini.item2index --dim 8
           --threads 1 --out ${WORK}/mini_via_table.npy)
file(SHA256 ${WORK}/mini.npy h1)
file(SHA256 ${WORK}/mini_via_table.npy h2)
if(NOT h1 STREQUAL h2)
  message(FATAL_ERROR "featurize --item2index (stats --items-out) and --items-from disagree")
endif()

# s3rec/pairs data with an external id -> text table (ids not 1..N, text rows
# in another order): rows follow the ascending-id order of training.
file(WRITE ${WORK}/shop.txt "1 30 10 50 20\n2 10 20 30 40\n3 50 40 30 70\n")
file(WRITE ${WORK}/shop.text "item_id:token\ttext:token_seq\n50\tgreen lamp\n10\tred chair\n30\tblue table\n20\tred stool\n40\tgreen sofa\n99\tunused\n")
expect_run(0 "items: 6 \\(rows in the item order of --format s3rec .*without a text row \\(missing modality, zero row\\): 1, text rows not in the interactions: 1"
           ${TOOL} featurize --text ${WORK}/shop.text --items-from ${WORK}/shop.txt --items-format s3rec --dim 2 --threads 1
           --out ${WORK}/shop.npy)
expect_npy_shape(${WORK}/shop.npy 6 2)
expect_run(0 "items +6" ${TOOL} stats ${WORK}/shop.txt --format s3rec --items-out ${WORK}/shop.item2index)
file(READ ${WORK}/shop.item2index shop_table)
if(NOT shop_table STREQUAL "10\t0\n20\t1\n30\t2\n40\t3\n50\t4\n70\t5\n")
  message(FATAL_ERROR "stats --items-out on s3rec data:\n${shop_table}")
endif()
expect_run(0 "" ${TOOL} featurize --text ${WORK}/shop.text --item2index ${WORK}/shop.item2index --dim 2 --threads 1
           --out ${WORK}/shop_via_table.npy)
file(SHA256 ${WORK}/shop.npy h1)
file(SHA256 ${WORK}/shop_via_table.npy h2)
if(NOT h1 STREQUAL h2)
  message(FATAL_ERROR "s3rec: featurize --item2index and --items-from disagree")
endif()

# Pair files (`user item` per line): the same order (ascending id), the same rows.
file(WRITE ${WORK}/shop_pairs.txt "1 30\n1 10\n2 50\n1 50\n2 20\n3 70\n3 40\n")
expect_run(0 "items: 6 \\(rows in the item order of --format pairs .*without a text row \\(missing modality, zero row\\): 1"
           ${TOOL} featurize --text ${WORK}/shop.text --items-from ${WORK}/shop_pairs.txt --items-format pairs --dim 2
           --threads 1 --out ${WORK}/shop_pairs.npy)
file(SHA256 ${WORK}/shop_pairs.npy h3)
if(NOT h1 STREQUAL h3)
  message(FATAL_ERROR "pairs and s3rec files with the same item ids should give the same feature rows")
endif()

# Errors: one line naming file, line and field.
file(WRITE ${WORK}/noid.item "movie_title:token_seq\tclass:token_seq\nToy Story\tComedy\n")
expect_run(1 "noid.item:1: field 'item_id': header has no item id column" ${TOOL} featurize --format atomic-item
           --text ${WORK}/noid.item --items-from ${inter} --dim 4 --out ${WORK}/x.npy)
expect_run(1 "mini.item:1: field 'title': no column 'title' in the header" ${TOOL} featurize --format atomic-item
           --text ${items} --fields movie_title,title --items-from ${inter} --dim 4 --out ${WORK}/x.npy)
file(WRITE ${WORK}/dup.item "item_id:token\tmovie_title:token_seq\n393\tred lamp\n197\tblue chair\n393\tgreen sofa\n")
expect_run(1 "dup.item:4: field 'item_id': duplicate item id '393' \\(first on line 2\\)" ${TOOL} featurize
           --format atomic-item --text ${WORK}/dup.item --items-from ${inter} --dim 2 --out ${WORK}/x.npy)
expect_run(0 "skipped lines: 1" ${TOOL} featurize --format atomic-item --text ${WORK}/dup.item --items-from ${inter}
           --dim 2 --lenient --threads 1 --out ${WORK}/dup.npy)
expect_npy_shape(${WORK}/dup.npy 43 2)
# A feature file whose rows do not match the domain (6 rows for 43 items).
expect_run(1 "shop.npy:0: field 'rows': feature matrix has 6 rows, expected 43.*--items-from" ${TOOL} finetune
           --data ${inter} --format atomic --features ${WORK}/shop.npy --epochs 1 --threads 1)

# featurize -> pretrain 1 epoch -> finetune 1 epoch, all on the RecBole files.
expect_run(0 "epoch   1 " ${TOOL} pretrain --data ${inter} --format atomic --features ${WORK}/mini.npy --d 16 --heads 2
           --inner 32 --max-len 10 --epochs 1 --batch-size 16 --threads 1 --out ${WORK}/pre)
if(NOT EXISTS ${WORK}/pre/model.ckpt)
  message(FATAL_ERROR "pretrain --out did not write model.ckpt")
endif()
expect_run(0 "test: HR@5=" ${TOOL} finetune --data ${inter} --format atomic --features ${WORK}/mini.npy
           --from ${WORK}/pre/model.ckpt --epochs 1 --threads 1 --out ${WORK}/ft)
file(READ ${WORK}/ft/result.json result)
if(NOT result MATCHES "\"items\": 43" OR NOT result MATCHES "\"NDCG@10\"")
  message(FATAL_ERROR "finetune result.json lacks the 43-item dataset or NDCG@10")
endif()
message(STATUS "cli_recbole: all checks passed")
