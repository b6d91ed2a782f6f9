// metarec transfer: multi-source -> target transfer (MetaRec and baselines).
// Prints one table (method x metric, mean +- std over seeds) and writes
// DIR/transfer.json with every run, the per-source weights per meta iteration
// and the wall time of each method.
// `mpirun -np N metarec transfer ... --distributed`: per-source meta-training,
// source i's inner loops on rank i mod N (docs/distributed.md); rank 0 alone
// prints and writes.
#include <fmt/core.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "commands.hpp"
#include "common.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/meta/progress.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/train/progress.hpp"
#include "registry.hpp"
#ifdef METAREC_WITH_MPI
#include "metarec/distributed/distributed.hpp"
#endif

namespace metarec::cli {

namespace {
struct TransferArgs {
  std::vector<std::string> sources, source_features;
  DataOptions target;
  std::string source_format = "s3rec";
  double fraction = 1.0;
  ModelOptions model;
  meta::MetaConfig meta;
  PolicyOptions learners;  // every meta-learner's Config fields
  std::string loss = "ce", out;
  std::vector<std::string> methods{"rescaled"};
  std::vector<std::uint64_t> seeds{1};
  int threads = 0;
  bool quiet = false;
  bool distributed = false;
  std::string device = "cpu";
};

/// Meta iterations (or epochs) the learner's phase logs, for the progress line.
template <class Config>
int phase_length(const Config& c) {
  if constexpr (requires { c.iterations; }) return c.iterations;
  else if constexpr (requires { c.epochs; }) return c.epochs;
  else return 0;
}

template <class Model>
meta::TransferResult run_method(const std::string& method, Model& model,
                                const std::vector<std::pair<int, const data::Split*>>& sources, int target,
                                const data::Split& split, const meta::MetaConfig& cfg, const PolicyOptions& learners,
                                bool quiet, meta::SourceSync& sync) {
  return with_meta_learner(method, [&]<class P>() {
    config_of<P> pc;
    learners.apply(pc);
    meta::MetaTransfer<Model, P> learner(cfg, pc);
    if (quiet) return learner.run_synced(sync, model, sources, target, split);
    // Progress of the meta phase (every 25 iterations, every epoch of joint pre-training), then of
    // fine-tuning (every epoch).
    const int total = phase_length(pc);
    meta::MetaProgressReporter meta_progress(total, std::is_same_v<P, meta::JointPretrain> ? 1 : 25);
    train::ProgressReporter progress;
    return learner.run_synced(sync, model, sources, target, split, meta_progress, progress);
  });
}

/// The settings of every requested learner, validated: {"<name>": {...}}.
json validated_learner_configs(const std::vector<std::string>& methods, const PolicyOptions& learners) {
  json j = json::object();
  for (const auto& method : methods)
    with_meta_learner(method, [&]<class P>() {
      config_of<P> pc;
      learners.apply(pc);
      pc.validate();
      j[method] = config_to_json(pc);
    });
  return j;
}

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

/// One process, or one rank of `--distributed` (`sync` places the source tasks; only the root prints and writes).
void run_transfer(TransferArgs& a, meta::SourceSync& sync, bool root) {
  if (!root) a.quiet = true;
  if (a.threads > 0) set_num_threads(a.threads);
  a.meta.finetune.loss = parse_loss(a.loss);
  const json model_json = validated_model_config(a.model);
  a.meta.validate();
  const json learner_json = validated_learner_configs(a.methods, a.learners);
  if (!(a.fraction > 0 && a.fraction <= 1))
    throw ConfigError("--target-fraction = " + std::to_string(a.fraction) + " is out of range (0, 1]");
  if (a.sources.empty() && !(a.methods.size() == 1 && a.methods[0] == "target-only"))
    throw ConfigError("--sources: at least one source domain is needed (or --meta target-only)");
  json config{{"command", "transfer"}, {"backbone", a.model.backbone}, {"quantizer", a.model.quantizer},
              {"sources", a.sources}, {"target", a.target.path}, {"target_fraction", a.fraction},
              {"methods", a.methods}, {"seeds", a.seeds}, {"model", model_json},
              {"meta", {{"eval_every", a.meta.eval_every}, {"keep_best", a.meta.keep_best},
                        {"batch_size", a.meta.batch_size}, {"learners", learner_json}}},
              {"finetune", to_json(a.meta.finetune)}, {"threads", num_threads()}, {"device", a.device}};
  if (a.distributed) config["ranks"] = sync.size();
  if (root) fmt::print(stderr, "effective config: {}\n", config.dump());
  std::vector<LoadedData> src;
  if (!a.source_features.empty() && a.source_features.size() != a.sources.size())
    throw ConfigError("--source-features: give one file per --sources entry (" + std::to_string(a.sources.size()) +
                      " sources, " + std::to_string(a.source_features.size()) + " feature files)");
  for (std::size_t i = 0; i < a.sources.size(); ++i) {
    DataOptions d = a.target;
    d.path = a.sources[i];
    d.format = a.source_format;
    d.features = a.source_features.empty() ? "" : a.source_features[i];
    src.push_back(load_data(d));
  }
  LoadedData tgt = load_data(a.target);
  json runs = json::array();
  std::map<std::string, std::map<std::string, std::vector<double>>> table;  // method -> metric -> values
  std::map<std::string, std::vector<double>> seconds;
  for (const auto& method : a.methods)
    for (std::uint64_t seed : a.seeds) {
      with_model_on(a.device, a.model.backbone, a.model.quantizer, [&]<class Model>() {
        if constexpr (!backend_of<Model>::is_host)
          if (a.distributed) throw ConfigError("--device cuda with --distributed: per-source meta-training over processes runs on the host only");
        Model model(model_config<Model>(a.model), seed);
        std::vector<std::pair<int, const data::Split*>> sources;
        if (method != "target-only")
          for (auto& s : src) {
            sources.emplace_back(model.add_domain(s.domain.name, s.domain.n_items), &s.split);
            attach_item_features(model, sources.back().first, s);
          }
        const int target = model.add_domain(tgt.domain.name, tgt.domain.n_items);
        attach_item_features(model, target, tgt);
        const data::Split split = a.fraction < 1 ? data::limit_training_users(tgt.split, a.fraction, seed) : tgt.split;
        meta::MetaConfig cfg = a.meta;
        cfg.seed = seed;
        cfg.finetune.seed = seed;
        if (root)
          fmt::print(stderr, "== {} seed {}: {} -> {} ({} of {} target users train)\n", method, seed,
                     fmt::format("{}", fmt::join(a.sources, ",")), tgt.domain.name, split.train_users.size(),
                     tgt.split.train_users.size());
        const auto t0 = std::chrono::steady_clock::now();
        meta::TransferResult r = run_method(method, model, sources, target, split, cfg, a.learners, a.quiet, sync);
        if (!root) return;
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        json weights = json::array();
        for (const auto& it : r.iterations)
          weights.push_back({{"iteration", it.iteration}, {"similarity", it.similarity}, {"weight", it.weight},
                             {"query_loss", it.query_loss}});
        runs.push_back({{"method", method}, {"seed", seed}, {"sources", r.sources}, {"target", r.target},
                        {"target_fraction", a.fraction}, {"pretrain_seconds", r.pretrain_seconds},
                        {"wall_seconds", wall}, {"best_epoch", r.finetune.best_epoch},
                        {"valid", to_json(r.finetune.valid)}, {"test", to_json(r.finetune.test)},
                        {"iterations", weights}});
        if (!r.meta_valid.empty()) {
          json curve = json::array();
          for (const auto& [it, m] : r.meta_valid) curve.push_back({{"iteration", it}, {"valid", to_json(m)}});
          runs.back()["meta_valid"] = curve;
          runs.back()["meta_best_iteration"] = r.meta_best_iteration;
        }
        json usage = json::object();
        if constexpr (requires { model.quantizer().usage(0, index_t{1}, index_t{2}); }) {
          for (int k = 0; k < model.num_domains(); ++k) {
            const auto u = model.quantizer().usage(k, 1, model.domain(k).n_items + 1);
            usage[model.domain(k).name] = {{"perplexity", u.perplexity}, {"used_fraction", u.used_fraction},
                                           {"collision_rate", u.collision_rate}};
            fmt::print(stderr, "   codebook usage {}: perplexity {:.1f}, codes used {:.3f}, collisions {:.4f}\n",
                       model.domain(k).name, u.perplexity, u.used_fraction, u.collision_rate);
          }
          runs.back()["codebook_usage"] = usage;
        }
        for (const auto& [k, v] : r.finetune.test.items()) table[method][k].push_back(v);
        seconds[method].push_back(wall);
        fmt::print(stderr, "   test {}  ({:.0f} s)\n", r.finetune.test.str(), wall);
        // Every finished run is on disk at once: a long experiment stopped midway keeps what it measured.
        if (!a.out.empty()) {
          std::filesystem::create_directories(a.out);
          write_json(a.out + "/transfer.json", json{{"config", config}, {"finished", false}, {"runs", runs}});
        }
      });
    }
  if (!root) return;
  // The table: method x metric, mean +- std over seeds.
  const std::vector<std::string> cols{"HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR"};
  fmt::print("\n{:<12}", "method");
  for (const auto& c : cols) fmt::print(" {:>17}", c);
  fmt::print(" {:>10}\n", "seconds");
  json summary = json::object();
  for (const auto& method : a.methods) {
    fmt::print("{:<12}", method);
    for (const auto& c : cols) {
      auto [m, s] = mean_std(table[method][c]);
      fmt::print(" {:>9.4f} +- {:.4f}", m, s);
      summary[method][c] = {{"mean", m}, {"std", s}};
    }
    auto [ms, ss] = mean_std(seconds[method]);
    summary[method]["seconds"] = {{"mean", ms}, {"std", ss}};
    fmt::print(" {:>10.0f}\n", ms);
  }
  json record{{"config", config}, {"finished", true}, {"summary", summary}, {"runs", runs}};
  if (!a.out.empty()) {
    std::filesystem::create_directories(a.out);
    write_json(a.out + "/transfer.json", record);
    fmt::print(stderr, "wrote {}/transfer.json\n", a.out);
  }
}
}  // namespace

void setup_transfer(CLI::App& app) {
  auto* cmd = app.add_subcommand("transfer", "multi-source transfer to a target domain (MetaRec and baselines)");
  auto a = std::make_shared<TransferArgs>();
  cmd->add_option("--config", "JSON file with any of these options (the command line wins)");
  cmd->add_option("--sources", a->sources, "source domain files, comma-separated")->delimiter(',');
  cmd->add_option("--source-format", a->source_format, "format of the source files")
      ->check(CLI::IsMember({"s3rec", "pairs", "atomic", "unisrec"}))
      ->capture_default_str();
  cmd->add_option("--target", a->target.path, "target domain file")->required();
  cmd->add_option("--format", a->target.format, "format of the target file")
      ->check(CLI::IsMember({"s3rec", "pairs", "atomic", "unisrec"}))
      ->capture_default_str();
  cmd->add_option("--target-features", a->target.features, "target item features (.npy) for --quantizer pq");
  cmd->add_option("--source-features", a->source_features, "source item features (.npy), comma-separated, one per source (pq)")
      ->delimiter(',');
  cmd->add_option("--target-fraction", a->fraction, "fraction of target users that keep their training data")
      ->capture_default_str();
  add_model_options(*cmd, a->model);
  add_trainer_options(*cmd, a->meta.finetune, a->loss, a->threads);
  cmd->add_option("--meta", a->methods, MetaLearners::joined() + " (comma-separated: several)")
      ->delimiter(',')
      ->check(CLI::IsMember(MetaLearners::names()));
  cmd->add_option("--seeds", a->seeds, "seeds, comma-separated")->delimiter(',');
  MetaLearners::for_each([&]<class P>() { a->learners.declare<config_of<P>>(*cmd); });
  cmd->add_option("--meta-eval-every", a->meta.eval_every, "target validation every N meta iterations (0 = off)");
  cmd->add_flag("--meta-keep-best", a->meta.keep_best,
                "rescaled/fomaml: fine-tune from the meta iteration with the best target validation (needs --meta-eval-every)");
  cmd->add_flag("--quiet", a->quiet, "no progress lines (meta iterations, fine-tuning epochs)");
  cmd->add_option("--device", a->device,
                  "where the model runs: cpu, or cuda (backbones with --quantizer none|vq, every meta-learner; "
                  "as metarec train --device)")
      ->check(CLI::IsMember(device_names()))
      ->capture_default_str();
  cmd->add_option("--out", a->out, "directory for transfer.json");
  cmd->add_flag("--distributed", a->distributed,
                "per-source meta-training over the ranks of `mpirun -np N` (rescaled, fomaml, reptile): source i's "
                "inner loops on rank i mod N, meta-gradients gathered, the same meta-update on every rank (same "
                "result as one process); fine-tuning replicated; rank 0 prints and writes; needs MPI");
  cmd->callback([a] {
    a->meta.batch_size = a->meta.finetune.batch_size;
    if (!a->distributed) {
      run_transfer(*a, meta::local_source_sync(), true);
      return;
    }
    for (const auto& m : a->methods)
      if (m == "joint")
        throw ConfigError("--distributed: meta-learner 'joint' runs in one process; per-source meta-training over "
                          "ranks is for rescaled, fomaml and reptile (and target-only, replicated)");
#ifdef METAREC_WITH_MPI
    distributed::Environment env;
    distributed::Communicator comm;
    distributed::run_or_abort(comm, [&] {
      distributed::MpiSourceSync sync(comm);
      run_transfer(*a, sync, comm.rank() == 0);
    });
#else
    throw no_mpi_error();
#endif
  });
}

}  // namespace metarec::cli
