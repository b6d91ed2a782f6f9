# metarec_write_ring(PATH): a ring world for the CLI tests, 60 users, 20 items,
# next item = current + 1 (S3-Rec sequence format).
function(metarec_write_ring path)
  set(lines "")
  foreach(u RANGE 1 60)
    math(EXPR start "(${u} * 7) % 20 + 1")
    set(line "${u}")
    foreach(t RANGE 0 7)
      math(EXPR item "(${start} + ${t} - 1) % 20 + 1")
      string(APPEND line " ${item}")
    endforeach()
    string(APPEND lines "${line}\n")
  endforeach()
  file(WRITE ${path} "${lines}")
endfunction()

# metarec_write_ring_items(PATH): the ring's 20 items as a RecBole .item file with a title per item
# (four groups of shared words), for featurize -> pretrain/finetune.
function(metarec_write_ring_items path)
  set(items "item_id:token\ttitle:token_seq\n")
  foreach(i RANGE 0 19)
    math(EXPR g "${i} % 4")
    string(APPEND items "${i}\tring piece number${i} of group${g}. shop${g}\n")
  endforeach()
  file(WRITE ${path} "${items}")
endfunction()
