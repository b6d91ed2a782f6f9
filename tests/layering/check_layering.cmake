# Fails when a header of include/metarec includes one from a higher layer.
# Usage: cmake -DINCLUDE_DIR=<repo>/include/metarec -P check_layering.cmake
#
# The layers, lowest first; folders joined by ',' are peers and may include
# each other. Files at the top of include/metarec (metarec.hpp, autograd.hpp)
# are umbrella headers above every layer; tools, examples and benchmarks sit
# above the library. docs/architecture.md draws this order.
set(layers
  "core"
  "cuda"                  # element bodies shared by host and device; allocator
  "data,eval,numeric"     # readers and splits; ranking metrics; k-means, randomized SVD
  "autograd"              # tape and differentiable ops
  "nn,optim"              # layers; optimizers
  "model"                 # the model contract, policy concepts, configs
  "backbones,quantizers"  # policies
  "recommender"           # Recommender<Backbone, Quantizer, Backend>
  "train"                 # fit, evaluate, checkpoints
  "meta,multimodal"       # MetaRec transfer; MISSRec
  "distributed"           # data-parallel training over MPI (needs metarec::mpi)
)
if(NOT INCLUDE_DIR)
  message(FATAL_ERROR "set -DINCLUDE_DIR=<repo>/include/metarec")
endif()
set(level 0)
foreach(entry IN LISTS layers)
  string(REPLACE "," ";" peers "${entry}")
  foreach(folder IN LISTS peers)
    set(level_of_${folder} ${level})
  endforeach()
  math(EXPR level "${level} + 1")
endforeach()

file(GLOB_RECURSE headers RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/*.hpp ${INCLUDE_DIR}/*.cuh)
set(violations "")
set(edges 0)
foreach(h IN LISTS headers)
  if(NOT h MATCHES "/")
    continue()  # umbrella header
  endif()
  string(REGEX MATCH "^[^/]+" from "${h}")
  if(NOT DEFINED level_of_${from})
    list(APPEND violations "${h}: folder '${from}' is in no layer (add it to tests/layering/check_layering.cmake)")
    continue()
  endif()
  file(STRINGS ${INCLUDE_DIR}/${h} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"metarec/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"metarec/([^\"]+)\".*" "\\1" target "${line}")
    math(EXPR edges "${edges} + 1")
    if(NOT target MATCHES "/")
      list(APPEND violations "${h} includes the umbrella header ${target}")
      continue()
    endif()
    string(REGEX MATCH "^[^/]+" to "${target}")
    if(NOT DEFINED level_of_${to})
      list(APPEND violations "${h} includes ${target}: folder '${to}' is in no layer")
    elseif(level_of_${to} GREATER level_of_${from})
      list(APPEND violations "${h} (layer ${from}) includes ${target} (higher layer ${to})")
    endif()
  endforeach()
endforeach()
list(LENGTH headers n_headers)
if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "layering: includes that run up a layer:\n  ${text}")
endif()
message(STATUS "layering: ${n_headers} headers, ${edges} metarec includes, none runs up a layer")
