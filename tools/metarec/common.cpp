#include "common.hpp"

#include <filesystem>
#include <fstream>
#include <map>

#include "metarec/core/error.hpp"
#include "metarec/data/features.hpp"
#include "registry.hpp"

namespace metarec::cli {

void check_device(const std::string& device) {
  if (device == "cpu") return;
  if (device != "cuda") throw ConfigError("--device " + device + ": expected cpu or cuda");
#if defined(METAREC_WITH_CUDA_BACKEND)
  if (cuda::Context::device_count() == 0)
    throw ConfigError("--device cuda: no CUDA device is visible (" + cuda::Context::device_count_reason() + ")");
#else
  throw ConfigError("--device cuda: this metarec was built without the CUDA backend "
                    "(configure with -DMETAREC_WITH_CUDA=ON and nvcc, cuda/README.md)");
#endif
}

void add_data_options(CLI::App& app, DataOptions& d, bool required) {
  auto* o = app.add_option("--data", d.path, "interaction file (or split prefix X for --format unisrec: X.train.inter ...)");
  if (required) o->required();
  app.add_option("--format", d.format, "s3rec (user item item ...), pairs (user item per line), atomic (RecBole .inter), unisrec (X.{train,valid,test}.inter)")
      ->check(CLI::IsMember({"s3rec", "pairs", "atomic", "unisrec"}))
      ->capture_default_str();
  app.add_flag("--lenient", d.lenient, "skip and count malformed records instead of failing");
  app.add_option("--kcore", d.kcore, "iterative k-core filter on users and items (0 = off)")->check(CLI::Range(0, 1000));
  app.add_option("--features", d.features, "item features (.npy, rows = items + 1, row 0 unused) for --quantizer pq");
}

// Option ranges are not repeated here: each config's validate() is the one place that knows them,
// and the commands call it right after parsing (a ConfigError names the field and its range, exit 2).

void add_model_options(CLI::App& app, ModelOptions& m) {
  app.add_option("--backbone", m.backbone, "sequence encoder: " + Backbones::joined())
      ->check(CLI::IsMember(Backbones::names()))
      ->capture_default_str();
  app.add_option("--quantizer", m.quantizer,
                 "item representation: none (ID embeddings), vq (MetaRec multi-head VQ) or pq (VQ-Rec product "
                 "quantization of item features, needs --features)")
      ->check(CLI::IsMember(Quantizers::names()))
      ->capture_default_str();
  m.policies.declare<ModelConfig>(app);
  Backbones::for_each([&]<class P>() { m.policies.declare<config_of<P>>(app); });
  Quantizers::for_each([&]<class P>() { m.policies.declare<config_of<P>>(app); });
}

json validated_model_config(const ModelOptions& m) {
  return with_model(m.backbone, m.quantizer, [&]<class Model>() {
    const typename Model::Config c = model_config<Model>(m);
    c.validate();
    return model_config_json<Model>(c);
  });
}

namespace {
const std::map<std::string, LossKind>& loss_names() {
  static const std::map<std::string, LossKind> m{{"ce", LossKind::ce},
                                                 {"bce", LossKind::bce},
                                                 {"bpr", LossKind::bpr},
                                                 {"sampled-softmax", LossKind::sampled_softmax},
                                                 {"gbce", LossKind::gbce}};
  return m;
}
const std::map<std::string, data::Sampling> sampling_names{{"uniform", data::Sampling::uniform},
                                                           {"popularity", data::Sampling::popularity}};
}  // namespace

void add_trainer_options(CLI::App& app, train::TrainerConfig& t, std::string& loss, int& threads) {
  app.add_option("--loss", loss,
                 "ce (full softmax), bce or bpr (one sampled negative per position), sampled-softmax or gbce "
                 "(--negatives K shared by a batch's or, with --negatives-per sequence, a sequence's positions)")
      ->check(CLI::IsMember(loss_names()))
      ->capture_default_str();
  app.add_option("--negatives", t.negatives, "K negatives per batch (or per sequence) for sampled-softmax and gbce")
      ->capture_default_str();
  app.add_option("--negatives-per", t.negatives_per,
                 "batch: K draws shared by every position of a batch (one GEMM); sequence: K draws per sequence, "
                 "shared by its positions (B K negatives per step, closer to per-position sampling)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, NegativeScope>{
          {"batch", NegativeScope::batch}, {"sequence", NegativeScope::sequence}}))
      ->default_str("batch");
  app.add_option("--sampling", t.sampling,
                 "distribution of those negatives: uniform, or popularity (sampled-softmax only; logQ-corrected)")
      ->transform(CLI::CheckedTransformer(sampling_names))
      ->default_str("uniform");
  app.add_option("--logq", t.logq,
                 "sampled-softmax: lower each draw's logit by log(K Q(j)), which estimates full-catalogue CE (on); "
                 "off: the plain softmax over the target and the draws, as RecTools' SASRec")
      ->default_str("on");
  app.add_option("--gbce-t", t.gbce_t, "gSASRec's calibration t for gbce (0 = BCE, 1 = calibrated)")->capture_default_str();
  app.add_option("--epochs", t.epochs, "maximum epochs")->capture_default_str();
  app.add_option("--eval-every", t.eval_every, "validate every N epochs")->capture_default_str();
  app.add_option("--patience", t.patience, "evaluations without improvement before stopping (0 = off)")->capture_default_str();
  app.add_option("--select-metric", t.select_metric,
                 "validation metric that picks the kept epoch and drives early stopping (NDCG@K, HR@K for K in --ks, "
                 "or MRR)")
      ->capture_default_str();
  app.add_option("--batch-size", t.batch_size, "training sequences per batch")->capture_default_str();
  app.add_option("--optimizer", t.optimizer, "adam, adamw (decoupled weight decay) or sgd")
      ->transform(CLI::CheckedTransformer(std::map<std::string, optim::OptimizerKind>{
          {"adam", optim::OptimizerKind::adam}, {"adamw", optim::OptimizerKind::adamw}, {"sgd", optim::OptimizerKind::sgd}}))
      ->default_str("adam");
  app.add_option("--lr", t.lr, "learning rate")->capture_default_str();
  app.add_option("--weight-decay", t.weight_decay, "L2 weight decay (adamw: decoupled)")->capture_default_str();
  app.add_option("--momentum", t.momentum, "sgd momentum")->capture_default_str();
  app.add_option("--clip", t.clip_norm, "global gradient-norm clipping (0 = off)")->capture_default_str();
  app.add_option("--seed", t.seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all)")->check(CLI::Range(0, 1024))->capture_default_str();
  add_eval_options(app, t.eval);
}

void add_eval_options(CLI::App& app, train::EvalOptions& e) {
  app.add_flag("--mask-history", e.mask_history,
               "full ranking: exclude the user's history items from the ranking (the S3-Rec and RecTools "
               "evaluations do; off: every item is ranked)");
  app.add_option("--eval", e.protocol,
                 "evaluation protocol: full (rank every item) or sampled (the target among --eval-negatives items "
                 "outside the history, as SASRec's paper: 100)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, train::EvalProtocol>{
          {"full", train::EvalProtocol::full}, {"sampled", train::EvalProtocol::sampled}}))
      ->default_str("full");
  app.add_option("--eval-negatives", e.negatives, "negatives per target for --eval sampled")->capture_default_str();
  app.add_option("--eval-sampling", e.sampling, "uniform or popularity (training counts) for --eval sampled")
      ->transform(CLI::CheckedTransformer(sampling_names))
      ->default_str("uniform");
  app.add_option("--ks", e.ks, "cut-offs for HR@K and NDCG@K")->delimiter(',')->capture_default_str();
}

namespace {
void read_item_features(const DataOptions& d, LoadedData& out) {
  if (d.features.empty()) return;
  data::ReadOptions ro;
  ro.lenient = d.lenient;
  out.features = data::read_npy_features(d.features, out.domain.n_items, ro).values;
}
}  // namespace

LoadedData load_data(const DataOptions& d) {
  data::ReadOptions ro;
  ro.lenient = d.lenient;
  LoadedData out;
  if (d.format == "unisrec") {
    auto u = data::read_unisrec_split(d.path, ro);
    if (d.kcore > 0) throw ConfigError("--kcore cannot be applied to a pre-split unisrec dataset");
    out.domain = std::move(u.domain);
    out.split = std::move(u.split);
    read_item_features(d, out);
    return out;
  }
  if (d.format == "s3rec") out.domain = data::read_sequences(d.path, ro);
  else if (d.format == "pairs") out.domain = data::read_pairs(d.path, ro);
  else if (d.format == "atomic") out.domain = data::read_atomic_inter(d.path, ro);
  else throw ConfigError("unknown --format '" + d.format + "'");
  if (d.kcore > 0) out.domain = data::kcore_filter(out.domain, d.kcore, d.kcore);
  data::SplitOptions so;
  so.lenient = d.lenient;
  out.split = data::split_leave_one_out(out.domain, so);
  read_item_features(d, out);
  return out;
}

json to_json(const eval::Metrics& m) {
  json j = json::object();
  for (const auto& [k, v] : m.items()) j[k] = v;
  return j;
}

json to_json(const train::TrainerConfig& t) {
  json j{{"epochs", t.epochs}, {"eval_every", t.eval_every}, {"patience", t.patience},
         {"batch_size", t.batch_size}, {"optimizer", optim::optimizer_name(t.optimizer)}, {"lr", t.lr},
         {"weight_decay", t.weight_decay}, {"momentum", t.momentum},
         {"clip", t.clip_norm}, {"loss", loss_name(t.loss)}, {"seed", t.seed},
         {"select_metric", t.select_metric}, {"ks", t.eval.ks}, {"mask_history", t.eval.mask_history},
         {"eval", protocol_json(t.eval)}};
  if (uses_shared_negatives(t.loss)) {
    j["negatives"] = t.negatives;
    j["negatives_per"] = negative_scope_name(t.negatives_per);
    j["sampling"] = data::sampling_name(t.sampling);
    if (t.loss == LossKind::sampled_softmax) j["logq"] = t.logq;
    if (t.loss == LossKind::gbce) j["gbce_t"] = t.gbce_t;
  }
  return j;
}

json protocol_json(const train::EvalOptions& e) {
  json j{{"ranking", train::protocol_name(e.protocol)}};
  if (e.protocol == train::EvalProtocol::full) {
    j["mask_history"] = e.mask_history;
  } else {
    j["negatives"] = e.negatives;  // drawn outside the history, so history never competes
    j["sampling"] = data::sampling_name(e.sampling);
  }
  return j;
}

json to_json(const DataOptions& d) {
  return json{{"data", d.path}, {"format", d.format}, {"lenient", d.lenient}, {"kcore", d.kcore}, {"features", d.features}};
}

json to_json(const data::LoadReport& r) {
  json reasons = json::object();
  for (const auto& [k, v] : r.reasons) reasons[k] = v;
  return json{{"lines", r.lines}, {"records", r.records}, {"skipped_lines", r.skipped_lines},
              {"skipped_users", r.skipped_users}, {"skipped_items", r.skipped_items}, {"reasons", reasons}};
}

LossKind parse_loss(const std::string& s) {
  const auto it = loss_names().find(s);
  if (it == loss_names().end()) throw ConfigError("unknown loss '" + s + "' (expected ce|bce|bpr|sampled-softmax|gbce)");
  return it->second;
}
std::string loss_name(LossKind k) {
  for (const auto& [name, kind] : loss_names())
    if (kind == k) return name;
  throw ConfigError("loss_name: unknown LossKind");
}

void write_json(const std::string& path, const json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw IoError("cannot write '" + tmp + "'");
    out << j.dump(2) << '\n';
    if (!out.flush()) throw IoError("cannot write '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

ConfigError no_mpi_error() {
  return ConfigError("--distributed: this metarec was built without MPI; install an MPI implementation "
                     "(Debian: libopenmpi-dev openmpi-bin) and configure with -DMETAREC_WITH_MPI=ON");
}

}  // namespace metarec::cli
