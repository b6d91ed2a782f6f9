#pragma once
/// @file text_features.hpp
/// Built-in item text features for MISSRec when no pretrained encoder output
/// is at hand (SPEC section 4, "Features"): hashed word uni-/bi-gram TF-IDF
/// followed by a randomized truncated SVD (LSA, Deerwester et al. 1990) to
/// `dim` columns. No network, no model files, deterministic for a seed.
///
/// Tokenizer rule: ASCII letters are lower-cased; a token is a maximal run of
/// ASCII letters and digits [a-z0-9]; every other byte (spaces, punctuation,
/// and every byte of a multi-byte UTF-8 character) separates tokens; tokens
/// shorter than `min_token_length` (default 2, as scikit-learn's
/// `\b\w\w+\b`) are dropped. Bi-grams join consecutive kept tokens of the
/// same text.
///
/// Hashing: n-gram -> FNV-1a 64-bit hash of its bytes (offset basis
/// 0xcbf29ce484222325, prime 0x100000001b3), a bi-gram hashed as "tok1 tok2"
/// (one space, which no token contains); bucket = low B bits of the hash.
/// Fixed here, so features never depend on the standard library's std::hash.
///
/// TF-IDF as scikit-learn's TfidfVectorizer(smooth_idf=True, norm='l2'):
///   tf = raw count in the text (or 1 + ln(count) with sublinear_tf),
///   idf = ln((1 + n) / (1 + df)) + 1 with n = number of texts (empty ones
///   included) and df = number of texts holding the bucket,
///   each row L2-normalised. A text without any token is a zero row and is
///   counted (`empty_rows`); its SVD features are then zero as well, which is
///   MISSRec's "missing modality = zero vector".
/// Only the buckets that occur become columns (ascending bucket id), so the
/// SVD works on [n, buckets used], not [n, 2^B].
///
/// Row order: row r of every matrix here is texts[r]. For a domain, pass the
/// texts in item-index order (texts_by_index below): row r = item index r =
/// internal item id r + 1, the convention of the UniSRec/MISSRec `.npy`/.feat
/// files that data::read_npy_features expects for n_items-row files.
#include <Eigen/SparseCore>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <ranges>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/data/text.hpp"
#include "metarec/numeric/randomized_svd.hpp"

namespace metarec::multimodal {

// ---------------------------------------------------------------- tokens

inline constexpr bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Appends the tokens of `text` to `out` (see the tokenizer rule above).
inline void tokenize(std::string_view text, std::vector<std::string>& out, int min_token_length = 2) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_token_char(text[i])) ++i;
    const std::size_t b = i;
    while (i < text.size() && is_token_char(text[i])) ++i;
    if (i > b && i - b >= static_cast<std::size_t>(std::max(min_token_length, 1))) {
      std::string& t = out.emplace_back(text.substr(b, i - b));
      for (char& c : t)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
}
/// Whether `text` holds at least one token (stops at the first one).
inline bool has_token(std::string_view text, int min_token_length = 2) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_token_char(text[i])) ++i;
    const std::size_t b = i;
    while (i < text.size() && is_token_char(text[i])) ++i;
    if (i > b && i - b >= static_cast<std::size_t>(std::max(min_token_length, 1))) return true;
  }
  return false;
}
inline std::vector<std::string> tokenize(std::string_view text, int min_token_length = 2) {
  std::vector<std::string> out;
  tokenize(text, out, min_token_length);
  return out;
}

// ---------------------------------------------------------------- hashing

inline constexpr std::uint64_t fnv1a64_offset = 0xcbf29ce484222325ULL;
inline constexpr std::uint64_t fnv1a64_prime = 0x100000001b3ULL;

/// FNV-1a 64 of the bytes of s, continuing from state h (default: the offset basis).
inline constexpr std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = fnv1a64_offset) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * fnv1a64_prime;
  return h;
}
/// Hash of the bi-gram "a b" (= fnv1a64 of the joined string, without building it).
inline constexpr std::uint64_t bigram_hash(std::string_view a, std::string_view b) {
  return fnv1a64(b, fnv1a64(" ", fnv1a64(a)));
}
inline constexpr std::uint32_t hash_bucket(std::uint64_t h, int buckets_log2) {
  return static_cast<std::uint32_t>(h & ((std::uint64_t{1} << buckets_log2) - 1));
}

// ---------------------------------------------------------------- TF-IDF

struct TfidfOptions {
  int buckets_log2 = 20;     ///< B in [1, 30]: 2^B hashed buckets
  bool bigrams = true;       ///< add word bi-grams to the uni-grams
  bool sublinear_tf = false; ///< tf -> 1 + ln(tf)
  int min_token_length = 2;  ///< shorter tokens are dropped (>= 1)
};

struct TfidfMatrix {
  Eigen::SparseMatrix<float, Eigen::RowMajor> values;  ///< [n_texts, buckets used], rows L2-normalised (or zero)
  std::vector<std::uint32_t> buckets;                  ///< column c = hashed bucket buckets[c], ascending
  std::vector<float> idf;                              ///< per column
  index_t empty_rows = 0;                              ///< texts without any token (zero rows)
};

/// Bucket ids of the n-grams of one text (unsorted, repeated per occurrence).
inline void hashed_ngrams(std::string_view text, const TfidfOptions& opt, std::vector<std::string>& tokens,
                          std::vector<std::uint32_t>& out) {
  tokens.clear();
  out.clear();
  tokenize(text, tokens, opt.min_token_length);
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    out.push_back(hash_bucket(fnv1a64(tokens[t]), opt.buckets_log2));
    if (opt.bigrams && t > 0) out.push_back(hash_bucket(bigram_hash(tokens[t - 1], tokens[t]), opt.buckets_log2));
  }
}

template <class R>
concept TextRange = std::ranges::random_access_range<const R&> &&
                    std::convertible_to<std::ranges::range_reference_t<const R&>, std::string_view>;

/// TF-IDF of `texts` (any random-access range of strings / string_views).
/// @throws ConfigError for buckets_log2 outside [1, 30] or min_token_length < 1.
template <TextRange R>
TfidfMatrix tfidf(const R& texts, const TfidfOptions& opt = {}) {
  check_range("tfidf: buckets_log2", opt.buckets_log2, 1, 30);
  check_range("tfidf: min_token_length", opt.min_token_length, 1, 1 << 20);
  const auto n = static_cast<index_t>(std::ranges::size(texts));
  // Per text: sorted (bucket, count) runs. Texts are independent -> parallel, deterministic.
  std::vector<std::vector<std::pair<std::uint32_t, float>>> rows(static_cast<std::size_t>(n));
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel if (n >= 2048)
#endif
  {
    std::vector<std::string> tokens;
    std::vector<std::uint32_t> ids;
#ifdef METAREC_WITH_OPENMP
#pragma omp for schedule(dynamic, 256)
#endif
    for (index_t i = 0; i < n; ++i) {
      hashed_ngrams(std::string_view(texts[static_cast<std::size_t>(i)]), opt, tokens, ids);
      std::sort(ids.begin(), ids.end());
      auto& row = rows[static_cast<std::size_t>(i)];
      for (std::size_t a = 0; a < ids.size();) {
        std::size_t b = a;
        while (b < ids.size() && ids[b] == ids[a]) ++b;
        row.emplace_back(ids[a], static_cast<float>(b - a));
        a = b;
      }
    }
  }
  TfidfMatrix out;
  for (const auto& row : rows) {
    out.empty_rows += row.empty();
    for (const auto& e : row) out.buckets.push_back(e.first);
  }
  std::sort(out.buckets.begin(), out.buckets.end());
  out.buckets.erase(std::unique(out.buckets.begin(), out.buckets.end()), out.buckets.end());
  const auto V = static_cast<index_t>(out.buckets.size());
  auto column = [&](std::uint32_t b) {
    return static_cast<int>(std::lower_bound(out.buckets.begin(), out.buckets.end(), b) - out.buckets.begin());
  };
  std::vector<index_t> df(static_cast<std::size_t>(V), 0);
  std::vector<int> outer(static_cast<std::size_t>(n) + 1, 0), inner;
  std::vector<float> vals;
  for (index_t i = 0; i < n; ++i) {
    for (const auto& e : rows[static_cast<std::size_t>(i)]) {
      inner.push_back(column(e.first));  // runs are sorted by bucket, so columns ascend
      ++df[static_cast<std::size_t>(inner.back())];
      vals.push_back(opt.sublinear_tf ? 1.0f + std::log(e.second) : e.second);
    }
    outer[static_cast<std::size_t>(i) + 1] = static_cast<int>(inner.size());
  }
  out.idf.resize(static_cast<std::size_t>(V));
  for (index_t c = 0; c < V; ++c)
    out.idf[static_cast<std::size_t>(c)] =
        static_cast<float>(std::log((1.0 + static_cast<double>(n)) / (1.0 + static_cast<double>(df[static_cast<std::size_t>(c)]))) + 1.0);
  for (index_t i = 0; i < n; ++i) {
    double ss = 0;
    for (int k = outer[static_cast<std::size_t>(i)]; k < outer[static_cast<std::size_t>(i) + 1]; ++k) {
      vals[static_cast<std::size_t>(k)] *= out.idf[static_cast<std::size_t>(inner[static_cast<std::size_t>(k)])];
      ss += static_cast<double>(vals[static_cast<std::size_t>(k)]) * vals[static_cast<std::size_t>(k)];
    }
    const auto inv = static_cast<float>(ss > 0 ? 1.0 / std::sqrt(ss) : 0.0);
    for (int k = outer[static_cast<std::size_t>(i)]; k < outer[static_cast<std::size_t>(i) + 1]; ++k) vals[static_cast<std::size_t>(k)] *= inv;
  }
  out.values = Eigen::Map<const Eigen::SparseMatrix<float, Eigen::RowMajor>>(
      n, V, static_cast<index_t>(inner.size()), outer.data(), inner.data(), vals.data());
  return out;
}

// ---------------------------------------------------------------- views

/// A modality cut out of one item text. Amazon item texts (Scientific.text)
/// are "title. category path. brand. " joined with ". ": `title` is the text
/// before the first ". " (all of it when there is none), `rest` what follows
/// it (category and brand; empty when there is no ". "), `all` the whole
/// text. A ". " inside a title ("No. 2 pencil") cuts it early: a known,
/// accepted imprecision of this plain rule.
enum class TextView { all, title, rest };

inline std::string_view text_view_name(TextView v) {
  return v == TextView::title ? "title" : v == TextView::rest ? "rest" : "all";
}
/// "all" | "title" | "rest", else ConfigError.
inline TextView parse_text_view(std::string_view s) {
  for (TextView v : {TextView::all, TextView::title, TextView::rest})
    if (s == text_view_name(v)) return v;
  throw ConfigError("text view '" + std::string(s) + "' is unknown (expected all, title or rest)");
}

struct TextViewOptions {
  std::vector<TextView> views{TextView::all};  ///< one feature matrix per entry
  std::string separator = ". ";                ///< field separator
};

/// The part of `text` that view `v` keeps (a view into `text`).
inline std::string_view text_view(std::string_view text, TextView v, std::string_view separator = ". ") {
  if (v == TextView::all) return text;
  const std::size_t at = separator.empty() ? std::string_view::npos : text.find(separator);
  if (v == TextView::title) return at == std::string_view::npos ? text : text.substr(0, at);
  return at == std::string_view::npos ? std::string_view() : text.substr(at + separator.size());
}

// ---------------------------------------------------------------- pipeline

struct TextFeatureOptions {
  TfidfOptions tfidf;
  numeric::RandomizedSvdOptions svd;  ///< svd.dim = output width
};

struct TextFeatures {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> values;  ///< [n_texts, dim], row r = texts[r]
  Eigen::VectorXf singular_values;     ///< [dim], descending
  double explained_variance_ratio = 0; ///< sum sigma^2 / ||TF-IDF||_F^2 of the kept components
  index_t empty_texts = 0;             ///< texts without any token (zero rows)
  index_t buckets_used = 0;            ///< columns of the TF-IDF matrix
  index_t nonzeros = 0;                ///< non-zeros of the TF-IDF matrix
};

/// TF-IDF + randomized truncated SVD of `texts`.
/// @throws ConfigError when svd.dim exceeds min(texts, buckets used) (or other options are out of range).
template <TextRange R>
TextFeatures text_features(const R& texts, const TextFeatureOptions& opt = {}) {
  const TfidfMatrix m = tfidf(texts, opt.tfidf);
  TextFeatures out;
  out.empty_texts = m.empty_rows;
  out.buckets_used = m.values.cols();
  out.nonzeros = m.values.nonZeros();
  if (opt.svd.dim > std::min(m.values.rows(), m.values.cols()))
    throw ConfigError("text features: dim = " + std::to_string(opt.svd.dim) + " exceeds min(texts = " +
                      std::to_string(m.values.rows()) + ", vocabulary buckets used = " + std::to_string(m.values.cols()) +
                      ")" + (m.values.cols() == 0 ? ": every text is empty" : ""));
  numeric::TruncatedSvd<float> svd = numeric::randomized_svd(m.values, opt.svd);
  out.values = std::move(svd.embedding);
  out.singular_values = std::move(svd.singular_values);
  out.explained_variance_ratio = svd.explained_ratio;
  return out;
}

/// Features of several corpora (domains) in ONE space: the corpora are
/// stacked row-wise (corpus 0's texts, then corpus 1's, ...) and go through a
/// single TF-IDF (one IDF: n = all texts of all corpora, df counted over all
/// of them) and a single randomized SVD, so feature column j means the same
/// direction of the shared vocabulary in every corpus. This is what transfer
/// needs (MISSRec pre-trained on one domain, fine-tuned on another: the
/// pre-trained modality adaptor reads column j of the target's features as it
/// learned column j on the source); per-corpus fits give unrelated bases.
/// A text that occurs in two corpora gets the same row in both (up to
/// rounding: the rows are equal in the stacked TF-IDF matrix).
struct JointTextFeatures {
  TextFeatures joint;                 ///< stacked: rows [row_offset[c], row_offset[c + 1]) = corpus c
  std::vector<index_t> row_offset;    ///< [corpora + 1], row_offset[0] = 0
  std::vector<index_t> empty_texts;   ///< per corpus: texts without any token (zero rows)

  std::size_t corpora() const { return empty_texts.size(); }
  index_t rows(std::size_t c) const { return row_offset[c + 1] - row_offset[c]; }
  /// Corpus c's feature rows [rows(c), dim] (a view into `joint.values`).
  auto block(std::size_t c) const { return joint.values.middleRows(row_offset[c], rows(c)); }
};

/// Joint TF-IDF + randomized SVD of `corpora` (a range of text ranges), see
/// JointTextFeatures. With one corpus this is text_features of it.
/// @throws ConfigError when there is no corpus, or as text_features (dim
///         larger than min(all texts, buckets used), ...).
template <class C>
  requires std::ranges::random_access_range<const C&> && TextRange<std::ranges::range_value_t<C>>
JointTextFeatures joint_text_features(const C& corpora, const TextFeatureOptions& opt = {}) {
  if (std::ranges::empty(corpora)) throw ConfigError("joint text features: no corpus given");
  JointTextFeatures out;
  std::vector<std::string_view> all;
  out.row_offset.push_back(0);
  for (const auto& corpus : corpora) {
    index_t empty = 0;
    for (const auto& t : corpus) {
      all.push_back(std::string_view(t));
      empty += !has_token(all.back(), opt.tfidf.min_token_length);
    }
    out.row_offset.push_back(static_cast<index_t>(all.size()));
    out.empty_texts.push_back(empty);
  }
  out.joint = text_features(all, opt);
  return out;
}

/// One TextFeatures per view of `views.views`, each with its own vocabulary and SVD.
template <TextRange R>
std::vector<TextFeatures> text_view_features(const R& texts, const TextViewOptions& views,
                                             const TextFeatureOptions& opt = {}) {
  std::vector<TextFeatures> out;
  std::vector<std::string_view> part;
  for (TextView v : views.views) {
    part.clear();
    for (const auto& t : texts) part.push_back(text_view(std::string_view(t), v, views.separator));
    out.push_back(text_features(part, opt));
  }
  return out;
}

// ---------------------------------------------------------------- item order

struct IndexedTexts {
  std::vector<std::string> texts;  ///< row r = item index r (internal item id r + 1)
  index_t missing = 0;             ///< indices without a text row (their text is "")
  index_t unmatched = 0;           ///< text rows whose id is not in the index table (ignored)
};

/// Puts `t`'s texts in item-index order. With `index_names` (index -> original
/// id, from data::read_item2index) row r is the text of id index_names[r].
/// Without it the ids must be the indices themselves, non-negative integers
/// (Games-6k.item: 0..N-1); N = largest id + 1 and gaps count as missing.
/// @throws ConfigError when an id is not an integer and no table is given.
inline IndexedTexts texts_by_index(const data::ItemText& t, const std::vector<std::string>& index_names = {}) {
  IndexedTexts out;
  if (!index_names.empty()) {
    std::unordered_map<std::string_view, std::size_t> row;
    for (std::size_t r = 0; r < t.ids.size(); ++r) row.emplace(t.ids[r], r);
    out.texts.resize(index_names.size());
    std::size_t matched = 0;
    for (std::size_t i = 0; i < index_names.size(); ++i) {
      const auto it = row.find(index_names[i]);
      if (it == row.end()) {
        ++out.missing;
      } else {
        out.texts[i] = t.texts[it->second];
        ++matched;
      }
    }
    out.unmatched = static_cast<index_t>(t.ids.size() - matched);
    return out;
  }
  std::vector<std::size_t> index(t.ids.size());
  std::size_t n = 0;
  for (std::size_t r = 0; r < t.ids.size(); ++r) {
    const std::string& id = t.ids[r];
    const auto res = std::from_chars(id.data(), id.data() + id.size(), index[r]);
    if (res.ec != std::errc() || res.ptr != id.data() + id.size())
      throw ConfigError("item id '" + id + "' (row " + std::to_string(r + 1) +
                        ") is not an integer index: give the item2index table that maps ids to indices");
    if (index[r] > 4 * t.ids.size() + 1024)  // bounds the allocation a hostile id can ask for
      throw ConfigError("item id " + id + " is far above the " + std::to_string(t.ids.size()) + " rows of the text table");
    n = std::max(n, index[r] + 1);
  }
  out.texts.resize(n);
  std::vector<char> seen(n, 0);
  for (std::size_t r = 0; r < t.ids.size(); ++r) {
    if (seen[index[r]]++)  // "7" and "07" are distinct strings but the same index
      throw ConfigError("item index " + std::to_string(index[r]) + " appears twice (row " + std::to_string(r + 1) + ")");
    out.texts[index[r]] = t.texts[r];
  }
  out.missing = static_cast<index_t>(n - t.ids.size());
  return out;
}

}  // namespace metarec::multimodal
