// metarec featurize: item text -> dense features (.npy) for MISSRec without a
// pretrained encoder: hashed uni-/bi-gram TF-IDF + randomized truncated SVD
// (include/metarec/multimodal/text_features.hpp). Rows = item indices.
// Item text: `text` (item_id<TAB>text tables), `games-item` (ids = indices) or
// `atomic-item` (RecBole .item files, columns chosen with --fields). With
// --items-from DATA the rows follow the item order that `--format F` training
// on DATA assigns (the same reader builds it: data::load_domain), and items
// without a text row become zero rows (missing modality).
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>

#include "commands.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/data/all.hpp"
#include "metarec/data/npy_writer.hpp"
#include "metarec/multimodal/text_features.hpp"

namespace metarec::cli {

namespace {

/// One corpus: an item text table and where its features go.
struct Corpus {
  std::string text, format = "text", item2index, out, items_from, items_format = "atomic", fields;
};

struct FeaturizeArgs {
  // Raw values of the repeatable corpus options, grouped into `corpora` by command-line order.
  std::vector<std::string> texts, formats, item2indexes, outs, items_froms, items_formats, fieldss;
  std::vector<Corpus> corpora;
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

/// Groups the repeatable --text/--format/--item2index/--out (and
/// --items-from/--items-format/--fields) values into
/// corpora: every --text opens a corpus; --format, --item2index, --out, ...
/// belong to the corpus of the last --text before them (those given before
/// the first --text to the first corpus, so a single corpus takes its options
/// in any order). Each corpus needs one --out and takes at most one of each.
std::vector<Corpus> group_corpora(const CLI::App& cmd, const FeaturizeArgs& a) {
  const CLI::Option* text_opt = cmd.get_option("--text");
  const CLI::Option* format_opt = cmd.get_option("--format");
  const CLI::Option* index_opt = cmd.get_option("--item2index");
  const CLI::Option* out_opt = cmd.get_option("--out");
  const CLI::Option* from_opt = cmd.get_option("--items-from");
  const CLI::Option* from_format_opt = cmd.get_option("--items-format");
  const CLI::Option* fields_opt = cmd.get_option("--fields");
  std::vector<Corpus> corpora(a.texts.size());
  // format, item2index, out, items-from, items-format, fields
  std::vector<std::array<int, 6>> seen(a.texts.size(), {0, 0, 0, 0, 0, 0});
  std::size_t n_text = 0, n_format = 0, n_index = 0, n_out = 0, n_from = 0, n_from_format = 0, n_fields = 0;
  for (const CLI::Option* opt : cmd.parse_order()) {
    if (opt == text_opt) {
      corpora[n_text].text = a.texts[n_text];
      ++n_text;
      continue;
    }
    const std::size_t c = n_text == 0 ? 0 : n_text - 1;
    auto take = [&](int slot, std::string& field, const std::string& value, const char* name) {
      if (seen[c][static_cast<std::size_t>(slot)]++)
        throw ConfigError(fmt::format("featurize: corpus {} (--text {}) has {} twice: with several --text, give each "
                                      "corpus's --format/--item2index/--items-from/--fields/--out after its --text",
                                      c + 1, a.texts[c], name));
      field = value;
    };
    if (opt == format_opt) take(0, corpora[c].format, a.formats[n_format++], "--format");
    else if (opt == index_opt) take(1, corpora[c].item2index, a.item2indexes[n_index++], "--item2index");
    else if (opt == out_opt) take(2, corpora[c].out, a.outs[n_out++], "--out");
    else if (opt == from_opt) take(3, corpora[c].items_from, a.items_froms[n_from++], "--items-from");
    else if (opt == from_format_opt) take(4, corpora[c].items_format, a.items_formats[n_from_format++], "--items-format");
    else if (opt == fields_opt) take(5, corpora[c].fields, a.fieldss[n_fields++], "--fields");
  }
  if (n_text != a.texts.size() || n_format != a.formats.size() || n_index != a.item2indexes.size() ||
      n_out != a.outs.size() || n_from != a.items_froms.size() || n_from_format != a.items_formats.size() ||
      n_fields != a.fieldss.size())
    throw ConfigError("featurize: give --text, --format, --item2index, --items-from, --items-format, --fields and --out "
                      "one value at a time (--text A --out A.npy ...)");
  for (std::size_t c = 0; c < corpora.size(); ++c) {
    if (corpora[c].out.empty())
      throw ConfigError(fmt::format("featurize: corpus {} (--text {}) has no --out", c + 1, corpora[c].text));
    const Corpus& k = corpora[c];
    if (k.format == "games-item" && (!k.item2index.empty() || !k.items_from.empty()))
      throw ConfigError(fmt::format("featurize: {} does not apply to --format games-item (its ids are the indices)",
                                    k.item2index.empty() ? "--items-from" : "--item2index"));
    if (!k.item2index.empty() && !k.items_from.empty())
      throw ConfigError(fmt::format("featurize: corpus {} (--text {}) has both --item2index and --items-from: give one "
                                    "(the item order comes from one of them)", c + 1, k.text));
    if (k.format == "atomic-item" && k.item2index.empty() && k.items_from.empty())
      throw ConfigError(fmt::format("featurize: --format atomic-item (--text {}) needs --items-from DATA (the interactions "
                                    "whose item order the rows follow) or --item2index", k.text));
    if (k.format != "atomic-item" && !k.fields.empty())
      throw ConfigError(fmt::format("featurize: --fields applies to --format atomic-item only (--text {} is --format {})",
                                    k.text, k.format));
    if (seen[c][4] && k.items_from.empty())
      throw ConfigError(fmt::format("featurize: corpus {} (--text {}) has --items-format without --items-from", c + 1, k.text));
    for (std::size_t e = 0; e < c; ++e)
      if (std::filesystem::weakly_canonical(corpora[e].out) == std::filesystem::weakly_canonical(corpora[c].out))
        throw ConfigError(fmt::format("featurize: corpora {} and {} write the same --out {}", e + 1, c + 1, corpora[c].out));
  }
  return corpora;
}

void run_featurize(FeaturizeArgs& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (a.threads > 0) set_num_threads(a.threads);
  multimodal::TextViewOptions views;
  views.views.clear();
  for (const auto& v : a.views) {
    views.views.push_back(multimodal::parse_text_view(v));
    if (std::count(views.views.begin(), views.views.end(), views.views.back()) > 1)
      throw ConfigError("featurize: --views names '" + v + "' twice");
  }
  a.feat.tfidf.bigrams = !a.no_bigrams;
  const bool joint = a.corpora.size() > 1;
  fmt::print("featurize: corpora={}{} dim={} buckets_log2={} power_iters={} oversample={} bigrams={} sublinear_tf={} "
             "min_token_length={} seed={} threads={}\n",
             a.corpora.size(), joint ? " (one shared TF-IDF vocabulary, IDF and SVD basis)" : "",
             a.feat.svd.dim, a.feat.tfidf.buckets_log2, a.feat.svd.power_iters, a.feat.svd.oversample,
             a.feat.tfidf.bigrams, a.feat.tfidf.sublinear_tf, a.feat.tfidf.min_token_length, a.feat.svd.seed,
             num_threads());

  data::ReadOptions ro;
  ro.lenient = a.lenient;
  std::vector<multimodal::IndexedTexts> items;
  for (std::size_t c = 0; c < a.corpora.size(); ++c) {
    const Corpus& k = a.corpora[c];
    const auto tr = clock::now();
    data::ItemText text;
    if (k.format == "atomic-item") {
      data::AtomicItemOptions io;
      for (std::string_view rest = k.fields; !rest.empty();) {
        const std::size_t comma = rest.find(',');
        const std::string_view f = data::detail::trim(rest.substr(0, comma));
        if (!f.empty()) io.fields.emplace_back(f);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      text = data::read_atomic_item(k.text, io, ro);
    } else {
      text = data::read_item_text(k.text, ro);
    }
    // The item order: the reader training uses on --items-from (one id mapping), or an item2index table.
    std::vector<std::string> index;
    std::string order = "integer item id";
    data::LoadReport inter_report;
    if (!k.items_from.empty()) {
      const data::Domain dom = data::load_domain(k.items_from, data::parse_format(k.items_format), ro);
      index = data::item_index_ids(dom);
      inter_report = dom.report;
      order = fmt::format("the item order of --format {} on {}", k.items_format, k.items_from);
    } else if (!k.item2index.empty()) {
      index = data::read_item2index(k.item2index);
      order = "item2index";
    }
    items.push_back(multimodal::texts_by_index(text, index));
    fmt::print("{}text={} format={}{} item2index={}: items: {} (rows in {}), without a text row (missing modality, zero "
               "row): {}, text rows not in the {}: {}, skipped lines: {}{}, read {:.2f} s\n",
               joint ? fmt::format("corpus {}: ", c + 1) : "", k.text, k.format,
               k.format == "atomic-item" ? fmt::format(" fields={}", text.column) : "",
               k.item2index.empty() ? "-" : k.item2index, items.back().texts.size(), order, items.back().missing,
               k.items_from.empty() ? "index" : "interactions", items.back().unmatched, text.report.skipped(),
               k.items_from.empty() ? "" : fmt::format(" (text), {} (interactions)", inter_report.skipped()),
               std::chrono::duration<double>(clock::now() - tr).count());
    if (items.back().missing > 0 && !k.items_from.empty())
      fmt::print("{}note: {} of {} items of {} have no row in {}: their features are zero rows, which MISSRec masks as a "
                 "missing modality\n",
                 joint ? fmt::format("corpus {}: ", c + 1) : "", items.back().missing, items.back().texts.size(),
                 k.items_from, k.text);
  }
  for (const Corpus& k : a.corpora) {
    const std::filesystem::path parent = std::filesystem::path(k.out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
  }
  std::vector<std::vector<std::string_view>> parts(a.corpora.size());
  for (const multimodal::TextView v : views.views) {
    const auto tv = clock::now();
    for (std::size_t c = 0; c < a.corpora.size(); ++c) {
      parts[c].clear();
      for (const auto& t : items[c].texts) parts[c].push_back(multimodal::text_view(t, v, views.separator));
    }
    const multimodal::JointTextFeatures f = multimodal::joint_text_features(parts, a.feat);
    const std::string name(multimodal::text_view_name(v));
    fmt::print("view {}: {} x {}{}, empty texts: {}, vocabulary buckets used: {} of {}, non-zeros: {}, "
               "explained variance ratio: {:.4f} (sigma_1 {:.3f}, sigma_{} {:.3f}), {:.2f} s\n",
               name, f.joint.values.rows(), f.joint.values.cols(), joint ? " (all corpora)" : "", f.joint.empty_texts,
               f.joint.buckets_used, std::int64_t{1} << a.feat.tfidf.buckets_log2, f.joint.nonzeros,
               f.joint.explained_variance_ratio, f.joint.singular_values(0), f.joint.singular_values.size(),
               f.joint.singular_values(f.joint.singular_values.size() - 1),
               std::chrono::duration<double>(clock::now() - tv).count());
    for (std::size_t c = 0; c < a.corpora.size(); ++c) {
      const std::string path = view_path(a.corpora[c].out, name, views.views.size() > 1);
      const index_t cols = f.joint.values.cols();  // row-major: corpus c's rows are contiguous
      data::write_npy(path, f.joint.values.data() + f.row_offset[c] * cols, f.rows(c), cols);
      fmt::print("  {}{} x {}, empty texts: {} -> {}\n", joint ? fmt::format("corpus {}: ", c + 1) : "", f.rows(c), cols,
                 f.empty_texts[c], path);
    }
  }
  fmt::print("total {:.2f} s\n", std::chrono::duration<double>(clock::now() - t0).count());
}

}  // namespace

void setup_featurize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "featurize",
      "item text -> TF-IDF + randomized SVD features (.npy, one row per item); several --text: one shared basis");
  auto a = std::make_shared<FeaturizeArgs>();
  cmd->add_option("--text", a->texts,
                  "item text table (item_id:token<TAB>text:token_seq, or a RecBole .item with --format atomic-item); "
                  "repeat for a joint fit of several corpora, each --text followed by its own "
                  "--format/--item2index/--items-from/--fields/--out")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
  cmd->add_option("--format", a->formats,
                  "text (ids mapped by --item2index or --items-from) | games-item (ids are indices 0..N-1) | atomic-item "
                  "(RecBole .item, any columns; needs --items-from or --item2index); default text")
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"text", "games-item", "atomic-item"}));
  cmd->add_option("--items-from", a->items_froms,
                  "interactions whose item order the rows follow: the order `--data FILE --format F` gives in "
                  "train/pretrain/finetune (read by the same reader)")
      ->allow_extra_args(false);
  cmd->add_option("--items-format", a->items_formats, "format of --items-from: atomic (default), s3rec, pairs, unisrec, inter")
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"atomic", "s3rec", "pairs", "unisrec", "inter"}));
  cmd->add_option("--fields", a->fieldss,
                  "atomic-item: comma-separated text columns by name, joined with \". \" (default: every token_seq column)")
      ->allow_extra_args(false);
  cmd->add_option("--item2index", a->item2indexes, "original id -> item index table (X.item2index)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingFile);
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
  cmd->add_flag("--lenient", a->lenient,
                "skip and count malformed text lines (and interaction records of --items-from: train with --lenient too)");
  cmd->add_option("--out", a->outs, "output .npy (float32, [items, dim], row r = item index r); one per --text")
      ->required()
      ->allow_extra_args(false);
  cmd->callback([a, cmd] {
    a->corpora = group_corpora(*cmd, *a);
    run_featurize(*a);
  });
}

}  // namespace metarec::cli
