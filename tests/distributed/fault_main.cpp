// Rank 1 fails while the others wait in a collective; the job must end
// (driven by run_fault.cmake).
//   (no argument)      rank 1 throws: run_or_abort prints the rank and calls MPI_Abort
//   kill               rank 1 dies by SIGKILL (no handler runs): mpirun must notice
//   checkpoint DIR     3 ranks train, rank 0 writes DIR/last.ckpt after every epoch;
//                      rank 1 dies by SIGKILL at the end of epoch 2
//   resume DIR         (one process) DIR/last.ckpt loads and training continues from it
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/distributed/distributed.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/fit_checkpoint.hpp"

using namespace metarec;

namespace {
using Model = Recommender<backbones::SASRec>;

struct KillAtEpoch {
  int epoch;
  void on_epoch_end(const train::EpochRecord& r) const {
    if (r.epoch == epoch) std::raise(SIGKILL);
  }
};

int train_with_checkpoints(const distributed::Communicator& comm, const std::string& dir, bool resume) {
  const data::Split split = test::ring_split("ring", 30, 121, 5);
  Model model(test::config<Model>({.d = 16, .max_len = 8}), 7);
  const int k = model.add_domain("ring", split.n_items);
  train::TrainerConfig tc;
  tc.batch_size = 16;
  tc.patience = 0;
  tc.epochs = 1000;  // never reached: rank 1 dies at the end of epoch 2
  const std::string path = dir + "/last.ckpt";
  if (resume) {
    train::ResumeFrom r{load_checkpoint(path)};
    const int epoch = std::stoi(r.checkpoint.meta.at("epoch"));
    tc.epochs = epoch + 1;
    const train::TrainResult res = train::fit(model, k, split, tc, r);
    std::printf("resumed from epoch %d, trained to epoch %d\n", epoch, res.epochs_run);
    return res.epochs_run == epoch + 1 ? 0 : 1;
  }
  distributed::MpiSync sync(comm);
  train::CheckpointEvery<float> save{path, 1, {}};
  KillAtEpoch kill{2};
  if (comm.rank() == 0) distributed::fit(model, k, split, tc, sync, save);
  else if (comm.rank() == 1) distributed::fit(model, k, split, tc, sync, kill);
  else distributed::fit(model, k, split, tc, sync);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  distributed::Environment env(&argc, &argv);
  distributed::Communicator comm;
  const std::string mode = argc > 1 ? argv[1] : "";
  return distributed::run_or_abort(comm, [&] {
    if ((mode == "checkpoint" || mode == "resume") && argc > 2)
      return train_with_checkpoints(comm, argv[2], mode == "resume");
    comm.barrier();
    if (comm.rank() == 1) {
      if (mode == "kill") std::raise(SIGKILL);
      throw std::runtime_error("injected failure");
    }
    comm.barrier();  // never completes: rank 1 is gone
    return 0;
  });
}
