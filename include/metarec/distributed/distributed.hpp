#pragma once
/// @file distributed.hpp
/// Data-parallel training and evaluation over MPI: communicator.hpp (RAII MPI
/// environment and communicator, errors as exceptions), data_parallel.hpp
/// (MpiSync for train::fit_synced, distributed::fit / evaluate), fault.hpp
/// (run_or_abort), meta_parallel.hpp (MpiSourceSync: per-source
/// meta-training, meta::MetaTransfer::run_synced). Needs MPI: link metarec::mpi. Not part of metarec.hpp.
#include "metarec/distributed/communicator.hpp"
#include "metarec/distributed/data_parallel.hpp"
#include "metarec/distributed/fault.hpp"
#include "metarec/distributed/meta_parallel.hpp"
