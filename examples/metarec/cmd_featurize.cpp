// metarec featurize: item text -> dense features (.npy) for MISSRec without a
// pretrained encoder: hashed uni-/bi-gram TF-IDF + randomized truncated SVD
// (include/metarec/multimodal/text_features.hpp). Rows = item indices.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "commands.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/data/npy_writer.hpp"
#include "metarec/data/text.hpp"
#include "metarec/multimodal/text_features.hpp"

namespace metarec::cli {

namespace {

struct FeaturizeArgs {
  std::string text, format = "text", item2index, out;
  std::vector<std::string> views{"all"};
  multimodal::TextFeatureOptions feat;
  int threads = 0;
  bool lenient = false, no_bigrams = false;
};

/// Output path of one view: `out` itself for a single view, else the view
/// name inserted before ".npy" (X.text.npy -> X.text.title.npy).
std::string view_path(const std::string& out, const std::string& view, bool several) {
  if (!several) return out;
  const bool npy = out.size() >= 4 && out.compare(out.size() - 4, 4, ".npy") == 0;
  return (npy ? out.substr(0, out.size() - 4) : out) + "." + view + ".npy";
}

void run_featurize(FeaturizeArgs& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (a.threads > 0) set_num_threads(a.threads);
  if (a.format == "games-item" && !a.item2index.empty())
    throw ConfigError("featurize: --item2index does not apply to --format games-item (its ids are the indices)");
  multimodal::TextViewOptions views;
  views.views.clear();
  for (const auto& v : a.views) {
    views.views.push_back(multimodal::parse_text_view(v));
    if (std::count(views.views.begin(), views.views.end(), views.views.back()) > 1)
      throw ConfigError("featurize: --views names '" + v + "' twice");
  }
  a.feat.tfidf.bigrams = !a.no_bigrams;
  fmt::print("featurize: text={} format={} item2index={} dim={} buckets_log2={} power_iters={} oversample={} "
             "bigrams={} sublinear_tf={} min_token_length={} seed={} threads={}\n",
             a.text, a.format, a.item2index.empty() ? "-" : a.item2index, a.feat.svd.dim, a.feat.tfidf.buckets_log2,
             a.feat.svd.power_iters, a.feat.svd.oversample, a.feat.tfidf.bigrams, a.feat.tfidf.sublinear_tf,
             a.feat.tfidf.min_token_length, a.feat.svd.seed, num_threads());

  data::ReadOptions ro;
  ro.lenient = a.lenient;
  const data::ItemText text = data::read_item_text(a.text, ro);
  const std::vector<std::string> index = a.item2index.empty() ? std::vector<std::string>{} : data::read_item2index(a.item2index);
  const multimodal::IndexedTexts items = multimodal::texts_by_index(text, index);
  const double read_s = std::chrono::duration<double>(clock::now() - t0).count();
  fmt::print("items: {} (rows in {} order), without a text row: {}, text rows not in the index: {}, skipped lines: {}, "
             "read {:.2f} s\n",
             items.texts.size(), index.empty() ? "integer item id" : "item2index", items.missing, items.unmatched,
             text.report.skipped(), read_s);

  const std::filesystem::path parent = std::filesystem::path(a.out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::vector<std::string_view> part;
  for (const multimodal::TextView v : views.views) {
    const auto tv = clock::now();
    part.clear();
    for (const auto& t : items.texts) part.push_back(multimodal::text_view(t, v, views.separator));
    const multimodal::TextFeatures f = multimodal::text_features(part, a.feat);
    const std::string path = view_path(a.out, std::string(multimodal::text_view_name(v)), views.views.size() > 1);
    data::write_npy(path, f.values.data(), f.values.rows(), f.values.cols());
    fmt::print("view {}: {} x {}, empty texts: {}, vocabulary buckets used: {} of {}, non-zeros: {}, "
               "explained variance ratio: {:.4f} (sigma_1 {:.3f}, sigma_{} {:.3f}), {:.2f} s -> {}\n",
               multimodal::text_view_name(v), f.values.rows(), f.values.cols(), f.empty_texts, f.buckets_used,
               std::int64_t{1} << a.feat.tfidf.buckets_log2, f.nonzeros, f.explained_variance_ratio,
               f.singular_values(0), f.singular_values.size(), f.singular_values(f.singular_values.size() - 1),
               std::chrono::duration<double>(clock::now() - tv).count(), path);
  }
  fmt::print("total {:.2f} s\n", std::chrono::duration<double>(clock::now() - t0).count());
}

}  // namespace

void setup_featurize(CLI::App& app) {
  auto* cmd = app.add_subcommand("featurize", "item text -> TF-IDF + randomized SVD features (.npy, one row per item)");
  auto a = std::make_shared<FeaturizeArgs>();
  cmd->add_option("--text", a->text, "item text table (item_id:token<TAB>text:token_seq)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format", a->format, "text (ids mapped by --item2index) | games-item (ids are indices 0..N-1)")
      ->check(CLI::IsMember({"text", "games-item"}))
      ->capture_default_str();
  cmd->add_option("--item2index", a->item2index, "original id -> item index table (X.item2index)")->check(CLI::ExistingFile);
  cmd->add_option("--dim", a->feat.svd.dim, "feature dimension (SVD components)")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  cmd->add_option("--buckets-log2", a->feat.tfidf.buckets_log2, "hashed vocabulary of 2^B buckets")->check(CLI::Range(1, 30))->capture_default_str();
  cmd->add_option("--power-iters", a->feat.svd.power_iters, "power iterations q")->check(CLI::Range(0, 100))->capture_default_str();
  cmd->add_option("--oversample", a->feat.svd.oversample, "extra sketch columns p")->check(CLI::Range(0, 1 << 16))->capture_default_str();
  cmd->add_option("--min-token-length", a->feat.tfidf.min_token_length, "shorter tokens are dropped")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_flag("--sublinear-tf", a->feat.tfidf.sublinear_tf, "tf -> 1 + ln(tf)");
  cmd->add_flag("--no-bigrams", a->no_bigrams, "uni-grams only");
  cmd->add_option("--views", a->views, "all | title,rest (one .npy per view: OUT.title.npy, OUT.rest.npy)")
      ->delimiter(',')
      ->check(CLI::IsMember({"all", "title", "rest"}))
      ->capture_default_str();
  cmd->add_option("--seed", a->feat.svd.seed, "seed of the Gaussian test matrix")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--lenient", a->lenient, "skip and count malformed text lines");
  cmd->add_option("--out", a->out, "output .npy (float32, [items, dim], row r = item index r)")->required();
  cmd->callback([a] { run_featurize(*a); });
}

}  // namespace metarec::cli
