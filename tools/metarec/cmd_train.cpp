// metarec train: single-domain training with early stopping; writes
// DIR/result.json (documented in docs/cli.md) and DIR/model.ckpt.
// `mpirun -np N metarec train ... --distributed`: data-parallel over N ranks
// (docs/distributed.md); rank 0 alone prints and writes.
// --checkpoint-every N writes DIR/last.ckpt (the whole training state, see
// train/fit_checkpoint.hpp); --resume CKPT continues such a run, on any
// number of ranks.
#include <fmt/core.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "commands.hpp"
#include "common.hpp"
#include "config_file.hpp"
#include "train_run.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/train/checkpoint.hpp"
#include "metarec/train/fit_checkpoint.hpp"
#include "metarec/train/progress.hpp"
#include "registry.hpp"
#include "run_checkpoints.hpp"
#ifdef METAREC_WITH_MPI
#include "metarec/distributed/distributed.hpp"
#ifdef METAREC_WITH_NCCL
#include "metarec/distributed/nccl_sync.hpp"
#endif
#endif

namespace metarec::cli {

namespace {

/// Wall and process CPU time of the training steps, without data loading and
/// evaluation: from the end of each epoch's first step to the end of its last
/// (on a shared machine CPU time tells the work, wall time the share it got).
struct StepClock {
  double wall = 0, cpu = 0;
  std::int64_t steps = 0;
  void on_step(const train::StepInfo& s) {
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    const double c = static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    if (s.batch > 1) wall += w - wall0_, cpu += c - cpu0_, ++steps;
    wall0_ = w, cpu0_ = c;
  }
  json to_json() const {
    const double n = static_cast<double>(std::max<std::int64_t>(steps, 1));
    return {{"steps", steps}, {"wall_seconds_per_step", wall / n}, {"cpu_seconds_per_step", cpu / n}};
  }

 private:
  double wall0_ = 0, cpu0_ = 0;
};

/// Forwards the trainer's validations to an optional EvalHook.
struct HookCallback {
  EvalHook* hook;
  bool on_eval(int epoch, const eval::Metrics& m) { return hook && hook->on_eval(epoch, m); }
};

/// `fit(model, k, split, cfg, callbacks...)` trains (one process or data-parallel) and may add
/// fields to the record; only the root prints and writes, and returns the record.
template <class Fit>
json train_and_write(TrainArgs& a, bool root, EvalHook* hook, Fit&& fit) {
  if (a.threads > 0) set_num_threads(a.threads);
  a.trainer.loss = parse_loss(a.loss);
  const json model_json = validated_model_config(a.model);
  a.trainer.validate();
  json config{{"command", "train"}, {"backbone", a.model.backbone}, {"quantizer", a.model.quantizer},
              {"model", model_json}, {"trainer", to_json(a.trainer)}, {"data", to_json(a.data)},
              {"threads", num_threads()}, {"sparse_items", a.sparse_items}, {"device", a.device}};
  if (root) fmt::print(stderr, "effective config: {}\n", config.dump());
  if (a.checkpoint_every > 0 && a.out.empty())
    throw ConfigError("--checkpoint-every writes OUT/last.ckpt: give --out");
  std::optional<Checkpoint> resume;
  if (!a.resume.empty()) {
    resume = load_checkpoint(a.resume);  // every rank reads it (a file system all ranks see)
    check_resumable(*resume, a.resume, config, {"backbone", "quantizer", "model", "sparse_items"});
  }
  LoadedData d = load_data(a.data);
  if (resume) check_resume_domain(*resume, a.resume, d.domain.name, d.domain.n_items);
  if (root)
    fmt::print(stderr, "{}: {} users, {} items, {} train users\n", d.domain.name, d.domain.n_users(), d.domain.n_items,
               d.split.train_users.size());
  json record = json::object();
  with_model_on(a.device, a.model.backbone, a.model.quantizer, [&]<class Model>() {
    if constexpr (!backend_of<Model>::is_host) {
      if (a.sparse_items) throw ConfigError("--sparse-items: device item tables take dense gradients; leave it off with --device cuda");
    }
    Model model(model_config<Model>(a.model), a.trainer.seed);
    if constexpr (requires { model.set_sparse_item_tables(true); }) model.set_sparse_item_tables(a.sparse_items);
    const int k = model.add_domain(d.domain.name, d.domain.n_items);
    attach_item_features(model, k, d);
    train::ProgressReporter progress;
    json extra = json::object();
    StepClock clock;
    HookCallback hooked{hook};
    RunCheckpoints<typename Model::Scalar, backend_of<Model>> checkpoints(
        resume ? &*resume : nullptr, a.resume, root, a.checkpoint_every, a.out,
        checkpoint_meta(config, d.domain.name, d.domain.n_items));
    train::TrainResult r = root ? fit(model, k, d.split, a.trainer, extra, checkpoints, progress, clock, hooked)
                                : fit(model, k, d.split, a.trainer, extra, checkpoints, clock, hooked);
    if (!root) return;
    checkpoints.describe(extra);
    extra["step_timing"] = clock.to_json();
#if defined(METAREC_WITH_CUDA_BACKEND)
    if constexpr (!backend_of<Model>::is_host) {
      const auto mem = cuda::default_context().allocator().stats();
      extra["device_memory"] = {{"peak_bytes_in_use", mem.peak_bytes_in_use}, {"raw_allocations", mem.raw_allocations},
                                {"host_emulation", cuda::Context::host_emulation()}};
    }
#endif
    json history = json::array();
    for (const auto& e : r.history) {
      json h{{"epoch", e.epoch}, {"loss", e.loss}, {"seconds", e.seconds}, {"sequences_per_s", e.sequences_per_s}};
      if (e.evaluated) h["valid"] = to_json(e.valid);
      history.push_back(h);
    }
    record = json{{"config", config},
                {"dataset", {{"name", d.domain.name}, {"users", d.domain.n_users()}, {"items", d.domain.n_items},
                             {"interactions", d.domain.n_interactions()}, {"load", to_json(d.domain.report)}}},
                {"protocol", protocol_json(a.trainer.eval)},
                {"best_epoch", r.best_epoch},
                {"epochs_run", r.epochs_run},
                {"early_stopped", r.early_stopped},
                {"valid", to_json(r.valid)},
                {"test", to_json(r.test)},
                {"timing", {{"train_sequences_per_s", r.train_sequences_per_s},
                            {"eval_users_per_s", r.eval_users_per_s},
                            {"train_seconds", r.train_seconds}}},
                {"history", history}};
    if (r.stopped_by_callback) record["stopped_by_callback"] = true;
    record.update(extra);
    fmt::print("test: {}\n", r.test.str());
    if (!a.out.empty()) {
      std::filesystem::create_directories(a.out);
      write_json(a.out + "/result.json", record);
      Checkpoint ck;
      ck.meta = checkpoint_meta(config, d.domain.name, d.domain.n_items);
      add_parameters(ck, model.parameters().all());
      save_checkpoint(a.out + "/model.ckpt", ck);
      fmt::print(stderr, "wrote {}/result.json and {}/model.ckpt\n", a.out, a.out);
    } else {
      fmt::print("{}\n", record.dump(2));
    }
  });
  return record;
}
}  // namespace

json run_train(TrainArgs& a, EvalHook* hook) {
  if (!a.distributed)
    return train_and_write(a, true, hook, [](auto& model, int k, const data::Split& split,
                                             const train::TrainerConfig& cfg, json&, auto&... callbacks) {
      return train::fit(model, k, split, cfg, callbacks...);
    });
#ifdef METAREC_WITH_MPI
  distributed::Environment env;
  distributed::Communicator comm;
  json record;
  distributed::run_or_abort(comm, [&] {
    record = train_and_write(a, comm.rank() == 0, hook, [&](auto& model, int k, const data::Split& split,
                                              const train::TrainerConfig& cfg, json& extra,
                                              auto&... callbacks) -> train::TrainResult {
      if constexpr (!backend_of<std::remove_cvref_t<decltype(model)>>::is_host) {
#ifdef METAREC_WITH_NCCL
        distributed::NcclSync sync(comm);  // gradients all-reduced on the devices
        train::TrainResult r = distributed::fit(model, k, split, cfg, sync, callbacks...);
        const distributed::CommStats& s = sync.stats();
        const double steps = static_cast<double>(std::max<std::uint64_t>(s.steps, 1));
        extra["distributed"] = {{"ranks", comm.size()}, {"steps", s.steps}, {"collective", "nccl"},
                                {"dense_payload_bytes_per_step", static_cast<double>(s.dense_payload_bytes) / steps}};
        return r;
#else
        throw ConfigError("--device cuda with --distributed needs NCCL: this metarec was built without it "
                          "(nvcc, MPI and NCCL: metarec::nccl)");
#endif
      } else {
      distributed::MpiSync sync(comm);
      train::TrainResult r = distributed::fit(model, k, split, cfg, sync, callbacks...);
      const distributed::CommStats& s = sync.stats();
      const double steps = static_cast<double>(std::max<std::uint64_t>(s.steps, 1));
      extra["distributed"] = {{"ranks", comm.size()},
                              {"steps", s.steps},
                              {"allreduce_calls_per_step", static_cast<double>(s.allreduce_calls) / steps},
                              {"dense_payload_bytes_per_step", static_cast<double>(s.dense_payload_bytes) / steps},
                              {"sparse_sent_bytes_per_step", static_cast<double>(s.sparse_sent_bytes) / steps},
                              {"sparse_received_bytes_per_step", static_cast<double>(s.sparse_received_bytes) / steps},
                              {"header_bytes_per_step", static_cast<double>(s.header_bytes) / steps},
                              {"reduce_seconds", s.seconds},
                              {"reduce_cpu_seconds", s.cpu_seconds}};
      return r;
      }
    });
  });
  return record;
#else
  throw no_mpi_error();
#endif
}

void add_train_options(CLI::App& cmd, TrainArgs& a) {
  add_data_options(cmd, a.data);
  add_model_options(cmd, a.model);
  add_trainer_options(cmd, a.trainer, a.loss, a.threads);
  cmd.add_option("--device", a.device,
                 "where the model runs: cpu, or cuda (a build with the CUDA backend and a visible GPU; every backbone "
                 "and loss, --quantizer none or vq: cuda/README.md)")
      ->check(CLI::IsMember(device_names()))
      ->capture_default_str();
  cmd.add_flag("--sparse-items", a.sparse_items,
               "item tables take row-sparse gradients and lazy optimizer updates (only the rows a batch touches, "
               "as torch.optim.SparseAdam): with sampled-softmax, gbce, bce or bpr a step then costs the same for "
               "any catalogue size, and with --distributed only those rows travel (full-softmax ce writes every row)");
}

void setup_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a sequential recommender on one domain (leave-one-out, full ranking)");
  auto a = std::make_shared<TrainArgs>();
  add_config_option(*cmd);
  add_train_options(*cmd, *a);
  cmd->add_option("--out", a->out, "directory for result.json and model.ckpt (default: print JSON)");
  add_checkpoint_options(*cmd, a->checkpoint_every, a->resume);
  cmd->add_flag("--distributed", a->distributed,
                "data-parallel training over the ranks of `mpirun -np N` (each rank computes 1/N of every batch; "
                "rank 0 prints and writes; needs a metarec built with MPI)");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace metarec::cli
