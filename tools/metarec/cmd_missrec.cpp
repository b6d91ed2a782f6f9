// metarec pretrain / finetune: MISSRec (SPEC section 4).
//   metarec pretrain --data A --features a_text.npy[,a_img.npy] [--data B --features ...] --out DIR
//   metarec finetune [--from DIR/model.ckpt] --data X --features x_text.npy[,...] --out DIR
//   mpirun -np N metarec finetune ... --distributed: data-parallel fine-tuning (rank 0 prints and writes)
//   finetune --checkpoint-every N / --resume DIR/last.ckpt: as `metarec train` (run_checkpoints.hpp)
// Feature files: .npy (any float dtype) or headerless float32 .feat* (width from --feature-dim),
// rows in the domain's item order (n_items rows, or n_items + 1 with row 0 = padding).
// An all-zero row is a missing modality (masked); --lenient turns NaN/Inf rows into missing ones.
#include <fmt/core.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "common.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/data/features.hpp"
#include "metarec/multimodal/missrec_train.hpp"
#include "metarec/train/progress.hpp"
#include "run_checkpoints.hpp"
#ifdef METAREC_WITH_MPI
#include "metarec/distributed/distributed.hpp"
#endif

namespace metarec::cli {

namespace {

using multimodal::MissrecConfig;
using multimodal::MISSRec;

struct MissrecArgs {
  std::vector<std::string> data, features;
  std::string format = "unisrec", out, from, mode = "full", adaptor = "linear";
  std::vector<index_t> feature_dim;
  bool lenient = false, no_prefix = false, fresh_adaptors = false;
  bool distributed = false;  ///< finetune: data-parallel over the ranks of mpirun
  int checkpoint_every = 0;  ///< finetune: write OUT/last.ckpt every N epochs
  std::string resume;        ///< finetune: continue the run of this last.ckpt
  int pre_eval_every = 0;  ///< pretrain: validate every domain every N epochs (0 = never)
  MissrecConfig model;
  multimodal::PretrainConfig pre;
  train::TrainerConfig trainer;
  std::string loss = "ce";
  int threads = 0;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

struct MissrecDomain {
  LoadedData data;
  std::vector<Tensor<float>> features;
  json report = json::array();
};

/// Loads domain i's interactions and its modality files; all modalities of all domains must agree in count.
MissrecDomain load_domain(const MissrecArgs& a, std::size_t i) {
  MissrecDomain l;
  DataOptions d;
  d.path = a.data[i];
  d.lenient = a.lenient;
  if (a.format == "inter") {  // one row per user holding the whole sequence (Games-6k.test.inter)
    data::ReadOptions ro;
    ro.lenient = a.lenient;
    l.data.domain = data::read_inter_sequences(d.path, ro);
    data::SplitOptions so;
    so.lenient = a.lenient;
    l.data.split = data::split_leave_one_out(l.data.domain, so);
  } else {
    d.format = a.format;
    l.data = load_data(d);
  }
  const auto files = split_list(a.features.at(i));
  data::ReadOptions ro;
  ro.lenient = a.lenient;
  for (std::size_t m = 0; m < files.size(); ++m) {
    const std::string& f = files[m];
    data::FeatureMatrix fm;
    try {
      if (f.size() >= 4 && f.compare(f.size() - 4, 4, ".npy") == 0) {
        fm = data::read_npy_features(f, l.data.domain.n_items, ro);
      } else {
        if (a.feature_dim.empty()) throw ConfigError("--feature-dim is required for the headerless feature file '" + f + "'");
        const index_t dim = a.feature_dim.size() == 1 ? a.feature_dim[0] : a.feature_dim.at(m);
        fm = data::read_feat_file(f, l.data.domain.n_items, dim, ro);
      }
    } catch (const ParseError& e) {
      if (e.field() != "rows") throw;
      // Same one line (file, line, field), plus which domain the rows must follow and how to build them.
      const std::string prefix = e.file() + ":" + std::to_string(e.line()) + ": field '" + e.field() + "': ";
      const std::string what = e.what();
      throw ParseError(e.file(), e.line(), e.field(),
                       what.substr(what.rfind(prefix, 0) == 0 ? prefix.size() : 0) + "; domain '" + d.path +
                           "' (--format " + a.format + ") has " + std::to_string(l.data.domain.n_items) +
                           " items: build rows in its item order with `metarec featurize --items-from " + d.path +
                           " --items-format " + a.format + "`, or order your own with `metarec stats " + d.path +
                           " --format " + a.format + " --items-out FILE`");
    }
    l.report.push_back({{"file", f}, {"shape", {fm.values.dim(0), fm.values.dim(1)}}, {"load", to_json(fm.report)}});
    l.features.push_back(fm.values);
  }
  return l;
}

void check_inputs(const MissrecArgs& a) {
  if (a.data.empty()) throw ConfigError("--data is required");
  if (a.features.size() != a.data.size())
    throw ConfigError("give one --features list per --data (" + std::to_string(a.data.size()) + " --data, " +
                      std::to_string(a.features.size()) + " --features)");
}

/// Feature widths of the first domain fix the model's modalities.
void set_dims(MissrecConfig& c, const std::vector<Tensor<float>>& f) {
  c.feature_dims.clear();
  for (const auto& t : f) c.feature_dims.push_back(t.dim(1));
}

json config_json(MissrecConfig c) {
  json j = config_to_json(c);
  j["prefix_samples"] = c.prefix_samples;
  j["feature_dims"] = c.feature_dims;
  j["adaptor"] = multimodal::adaptor_name(c.adaptor);
  return j;
}

void add_model_flags(CLI::App& cmd, MissrecArgs& a) {
  auto& m = a.model;
  cmd.add_option("--data", a.data, "interactions of a domain (repeat for several pre-training domains)")->required();
  cmd.add_option("--format", a.format, "unisrec (X.{train,valid,test}.inter), inter (one full sequence per row), s3rec, pairs, atomic")
      ->check(CLI::IsMember({"unisrec", "inter", "s3rec", "pairs", "atomic"}))->capture_default_str();
  cmd.add_option("--features", a.features, "comma-separated modality files of a domain (.npy or .feat*), one list per --data")->required();
  cmd.add_option("--feature-dim", a.feature_dim, "width of headerless .feat files (one value, or one per modality)")->delimiter(',');
  cmd.add_flag("--lenient", a.lenient, "skip malformed records; NaN/Inf feature rows become missing modalities");
  bind_options(cmd, m);  // ranges: MissrecConfig::validate() after parsing
  cmd.add_option("--adaptor", a.adaptor, "modality adaptor: linear (f -> d) or moe (UniSRec mixture of whitening experts)")
      ->check(CLI::IsMember({"linear", "moe"}))->capture_default_str();
  cmd.add_option("--out", a.out, "directory for result.json and model.ckpt");
}

void save(const std::string& out, MISSRec& model, const json& record) {
  std::filesystem::create_directories(out);
  write_json(out + "/result.json", record);
  Checkpoint ck = train::model_checkpoint(model, record.at("config").dump());
  ck.meta["missrec"] = config_json(model.config()).dump();
  save_checkpoint(out + "/model.ckpt", ck);
  fmt::print(stderr, "wrote {}/result.json and {}/model.ckpt\n", out, out);
}

void run_pretrain(MissrecArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  check_inputs(a);
  a.pre.validate();
  std::vector<MissrecDomain> doms;
  for (std::size_t i = 0; i < a.data.size(); ++i) doms.push_back(load_domain(a, i));
  set_dims(a.model, doms[0].features);
  a.model.prefix_samples = !a.no_prefix;
  a.model.adaptor = multimodal::parse_adaptor(a.adaptor);
  a.model.validate();
  MISSRec model(a.model, a.pre.seed);
  std::vector<const data::Split*> splits;
  std::vector<int> ids;
  json datasets = json::array();
  for (auto& l : doms) {
    ids.push_back(model.add_domain(l.data.domain.name, l.data.domain.n_items, l.features));
    splits.push_back(&l.data.split);
    const auto& dm = model.domain(ids.back());
    datasets.push_back({{"name", dm.name}, {"users", l.data.domain.n_users()}, {"items", dm.n_items},
                        {"tokens", dm.tokens}, {"interests", dm.interests}, {"features", l.report}});
    fmt::print(stderr, "{}: {} users, {} items, {} modality tokens, {} interests\n", dm.name, l.data.domain.n_users(),
               dm.n_items, dm.tokens, dm.interests);
  }
  json config{{"command", "pretrain"}, {"model", config_json(a.model)}, {"threads", num_threads()},
              {"pretrain", config_to_json(a.pre)}};
  config["pretrain"]["eval_every"] = a.pre_eval_every;
  fmt::print(stderr, "effective config: {}\n", config.dump());
  json history = json::array();
  multimodal::pretrain(model, splits, ids, a.pre, [&](const multimodal::PretrainEpoch& e) {
    fmt::print(stderr, "epoch {:3d}  loss {:.4f} (seq-item {:.4f}, seq-seq {:.4f}, diversity {:.4f})  {:.1f}s  {:.0f} seq/s  k-means {:.1f}s\n",
               e.epoch, e.loss, e.seq_item, e.seq_seq, e.diversity, e.seconds, e.sequences_per_s, e.kmeans_seconds);
    json h{{"epoch", e.epoch}, {"loss", e.loss}, {"seq_item", e.seq_item}, {"seq_seq", e.seq_seq},
           {"diversity", e.diversity}, {"seconds", e.seconds}, {"sequences_per_s", e.sequences_per_s},
           {"kmeans_seconds", e.kmeans_seconds}};
    // Full-ranking validation on each pre-training domain: shows whether the objective learns the domains at all.
    if (a.pre_eval_every > 0 && (e.epoch % a.pre_eval_every == 0 || e.epoch == a.pre.epochs)) {
      json valid = json::object();
      for (std::size_t i = 0; i < doms.size(); ++i) {
        Tape<float> eval_tape;
        const eval::Metrics m = train::evaluate(model, eval_tape, ids[i], doms[i].data.split.valid, train::EvalOptions{});
        fmt::print(stderr, "           valid {}: {}\n", model.domain(ids[i]).name, m.str());
        valid[model.domain(ids[i]).name] = to_json(m);
      }
      h["valid"] = valid;
    }
    history.push_back(h);
  });
  json record{{"config", config}, {"datasets", datasets}, {"history", history}};
  if (!a.out.empty()) save(a.out, model, record);
  else fmt::print("{}\n", record.dump(2));
}

/// Fine-tunes through `fit(model, k, split, cfg, peft, extra, callbacks...)` (one process, or one rank
/// of --distributed, which adds fields to `extra`); only the root prints and writes.
template <class Fit>
void finetune_and_write(MissrecArgs& a, bool root, Fit&& fit) {
  if (a.threads > 0) set_num_threads(a.threads);
  check_inputs(a);
  if (a.data.size() != 1) throw ConfigError("finetune takes one --data domain");
  a.trainer.loss = parse_loss(a.loss);
  a.trainer.validate();
  MissrecDomain l = load_domain(a, 0);
  set_dims(a.model, l.features);
  a.model.prefix_samples = !a.no_prefix;
  a.model.adaptor = multimodal::parse_adaptor(a.adaptor);
  Checkpoint ck;
  if (!a.from.empty()) {  // the architecture comes from the checkpoint; rates and modes from the flags
    ck = load_checkpoint(a.from);
    auto it = ck.meta.find("missrec");
    if (it == ck.meta.end()) throw CheckpointError("checkpoint '" + a.from + "' was not written by `metarec pretrain` or `finetune`");
    const json j = json::parse(it->second);
    a.model.d = j.at("d");
    a.model.heads = j.at("heads");
    a.model.inner = j.at("inner");
    a.model.encoder_layers = j.at("encoder_layers");
    a.model.decoder_layers = j.at("decoder_layers");
    a.model.max_len = j.at("max_len");
    // Checkpoints from before the adaptor option hold linear adaptors.
    a.model.adaptor = multimodal::parse_adaptor(j.value("adaptor", std::string("linear")));
    a.model.moe_experts = j.value("moe_experts", a.model.moe_experts);
    a.model.moe_noisy_gate = j.value("moe_noisy_gate", a.model.moe_noisy_gate);
  }
  a.model.validate();
  MISSRec model(a.model, a.trainer.seed);
  const int k = model.add_domain(l.data.domain.name, l.data.domain.n_items, l.features);
  json carried;
  if (!a.from.empty()) {
    const auto rep = multimodal::load_missrec_pretrained(model, ck, !a.fresh_adaptors);
    carried = {{"from", a.from}, {"loaded", rep.loaded.size()}, {"skipped", rep.skipped}};
    for (const auto& s : rep.skipped) fmt::print(stderr, "not carried over: {}\n", s);
  }
  json config{{"command", "finetune"}, {"model", config_json(a.model)}, {"mode", a.mode},
              {"trainer", to_json(a.trainer)}, {"threads", num_threads()}, {"from", a.from},
              {"fresh_adaptors", a.fresh_adaptors}};
  const auto& dm = model.domain(k);
  if (a.checkpoint_every > 0 && a.out.empty()) throw ConfigError("--checkpoint-every writes OUT/last.ckpt: give --out");
  std::optional<Checkpoint> resume;
  if (!a.resume.empty()) {  // every rank reads it (a file system all ranks see)
    resume = load_checkpoint(a.resume);
    check_resumable(*resume, a.resume, config, {"model", "mode", "from", "fresh_adaptors"});
    check_resume_domain(*resume, a.resume, dm.name, dm.n_items);
  }
  auto meta = checkpoint_meta(config, dm.name, dm.n_items);
  meta["missrec"] = config_json(model.config()).dump();  // so that --from reads a last.ckpt too
  RunCheckpoints<float, backend::Cpu> checkpoints(resume ? &*resume : nullptr, a.resume, root, a.checkpoint_every,
                                                  a.out, std::move(meta));
  if (root) {
    fmt::print(stderr, "effective config: {}\n", config.dump());
    fmt::print(stderr, "{}: {} users, {} items, {} modality tokens, {} interests\n", dm.name, l.data.domain.n_users(),
               dm.n_items, dm.tokens, dm.interests);
  }
  train::ProgressReporter progress;
  json extra = json::object();
  const bool peft = a.mode == "peft";
  train::TrainResult r = root ? fit(model, k, l.data.split, a.trainer, peft, extra, checkpoints, progress)
                              : fit(model, k, l.data.split, a.trainer, peft, extra, checkpoints);
  if (!root) return;
  checkpoints.describe(extra);
  json history = json::array();
  for (const auto& e : r.history) {
    json h{{"epoch", e.epoch}, {"loss", e.loss}, {"seconds", e.seconds}, {"sequences_per_s", e.sequences_per_s}};
    if (e.evaluated) h["valid"] = to_json(e.valid);
    history.push_back(h);
  }
  json record{{"config", config}, {"carried", carried},
              {"dataset", {{"name", dm.name}, {"users", l.data.domain.n_users()}, {"items", dm.n_items},
                           {"features", l.report}}},
              {"best_epoch", r.best_epoch}, {"epochs_run", r.epochs_run}, {"early_stopped", r.early_stopped},
              {"valid", to_json(r.valid)}, {"test", to_json(r.test)},
              {"timing", {{"train_sequences_per_s", r.train_sequences_per_s}, {"train_seconds", r.train_seconds},
                          {"eval_users_per_s", r.eval_users_per_s}}},
              {"history", history}};
  record.update(extra);
  fmt::print("test: {}\n", r.test.str());
  if (!a.out.empty()) save(a.out, model, record);
  else fmt::print("{}\n", record.dump(2));
}

void run_finetune(MissrecArgs& a) {
  if (!a.distributed) {
    finetune_and_write(a, true, [](MISSRec& model, int k, const data::Split& split, const train::TrainerConfig& cfg,
                                   bool peft, json&, auto&... callbacks) {
      return multimodal::finetune(model, k, split, cfg, peft, callbacks...);
    });
    return;
  }
#ifdef METAREC_WITH_MPI
  distributed::Environment env;
  distributed::Communicator comm;
  distributed::run_or_abort(comm, [&] {
    finetune_and_write(a, comm.rank() == 0, [&](MISSRec& model, int k, const data::Split& split,
                                                const train::TrainerConfig& cfg, bool peft, json& extra,
                                                auto&... callbacks) {
      distributed::MpiSync sync(comm);
      train::TrainResult r = multimodal::finetune_synced(model, k, split, cfg, peft, sync, callbacks...);
      const distributed::CommStats& s = sync.stats();
      const double steps = static_cast<double>(std::max<std::uint64_t>(s.steps, 1));
      extra["distributed"] = {{"ranks", comm.size()}, {"steps", s.steps},
                              {"dense_payload_bytes_per_step", static_cast<double>(s.dense_payload_bytes) / steps}};
      return r;
    });
  });
#else
  throw no_mpi_error();
#endif
}

}  // namespace

void setup_missrec(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("pretrain", "MISSRec multi-modal pre-training on one or more source domains");
    auto a = std::make_shared<MissrecArgs>();
    a->model.interest_ratio = 0.02;
    cmd->add_option("--config", "JSON file with any of these options (the command line wins)");
    add_model_flags(*cmd, *a);
    auto& p = a->pre;
    bind_options(*cmd, p);  // ranges: PretrainConfig::validate()
    cmd->add_flag("--no-prefix-samples", a->no_prefix, "one sample per sequence (its end) instead of one per prefix");
    cmd->add_option("--eval-every", a->pre_eval_every, "full-ranking validation on every domain each N epochs (0 = off)")
        ->check(CLI::Range(0, 100000))->capture_default_str();
    cmd->add_option("--threads", a->threads, "CPU threads (0 = all)")->check(CLI::Range(0, 1024))->capture_default_str();
    cmd->callback([a] { run_pretrain(*a); });
  }
  {
    auto* cmd = app.add_subcommand("finetune", "MISSRec fine-tuning (full-softmax CE, fused scores), from a pre-trained checkpoint or scratch");
    auto a = std::make_shared<MissrecArgs>();
    a->trainer.batch_size = 512;
    cmd->add_option("--config", "JSON file with any of these options (the command line wins)");
    add_model_flags(*cmd, *a);
    cmd->add_option("--from", a->from, "checkpoint of `metarec pretrain` (or of `finetune` on another domain; omit: train from scratch)");
    cmd->add_flag("--fresh-adaptors", a->fresh_adaptors, "with --from: keep the modality adaptors freshly initialised");
    cmd->add_option("--mode", a->mode, "full, or peft (freeze encoder, decoder, positions)")
        ->check(CLI::IsMember({"full", "peft"}))->capture_default_str();
    cmd->add_flag("--no-prefix-samples", a->no_prefix, "one sample per sequence instead of one per prefix");
    add_trainer_options(*cmd, a->trainer, a->loss, a->threads);
    add_checkpoint_options(*cmd, a->checkpoint_every, a->resume);
    cmd->add_flag("--distributed", a->distributed,
                  "data-parallel over the ranks of `mpirun -np N` (rank 0 prints and writes; needs an MPI build)");
    cmd->callback([a] { run_finetune(*a); });
  }
}

}  // namespace metarec::cli
