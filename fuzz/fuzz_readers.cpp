// libFuzzer targets for the metarec::data readers, one binary per reader,
// selected at compile time with -DMETAREC_FUZZ_<NAME>. Every reader gets the
// bytes through its istream entry point, strict and lenient; rejecting input
// with a metarec::Error is fine, anything else (a crash, an ASan/UBSan
// report, another exception, a broken invariant) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "metarec/data/all.hpp"

namespace md = metarec::data;

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // broken invariant: libFuzzer reports it as a crash
}

/// A domain that a reader accepted must satisfy the id conventions, and must
/// split / batch / describe itself without anything but metarec::Error.
void exercise(const md::Domain& d) {
  d.validate();
  require(d.user_lines.size() == d.sequences.size());
  const md::DatasetStats s = md::stats(d);
  require(s.interactions == d.n_interactions());
  (void)md::format_stats(s);
  const md::Split sp = md::split_leave_one_out(d, {true, 0});
  require(sp.valid.size() == sp.test.size());
  if (sp.train_users.empty() || d.n_items < 1) return;
  md::BatchOptions opt;
  opt.batch_size = 8;
  opt.max_len = 5;
  md::BatchIterator it(sp, opt);
  while (it.next()) require(it.batch().batch <= 8);
  md::SequenceBatch b;
  md::make_eval_batch(sp.test, 0, sp.test.size(), {4, md::Padding::left, d.n_items + 1}, b);
}

template <class F>
void both_modes(F&& read) {
  for (bool lenient : {false, true}) {
    try {
      read(md::ReadOptions{lenient});
    } catch (const metarec::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
#if defined(METAREC_FUZZ_SEQUENCES)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes);
    exercise(md::read_sequences(in, "fuzz.txt", o));
  });
#elif defined(METAREC_FUZZ_PAIRS)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes);
    const md::Domain d = md::read_pairs(in, "fuzz.txt", o);
    exercise(d);
    exercise(md::kcore_filter(d, 2, 2));
  });
#elif defined(METAREC_FUZZ_ATOMIC)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes);
    exercise(md::read_atomic_inter(in, "fuzz.inter", o));
  });
#elif defined(METAREC_FUZZ_UNISREC)
  // The three files are separated by form feeds: train \f valid \f test.
  const std::size_t a = bytes.find('\f'), b = a == std::string::npos ? a : bytes.find('\f', a + 1);
  if (b == std::string::npos) return 0;
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream tr(bytes.substr(0, a)), va(bytes.substr(a + 1, b - a - 1)), te(bytes.substr(b + 1));
    const md::UniSRecData u = md::read_unisrec_split(tr, va, te, "fuzz", o);
    exercise(u.domain);
    require(u.split.test.size() == static_cast<std::size_t>(u.domain.n_users()));
    for (std::size_t r = 0; r < u.split.test.size(); ++r)
      require(u.history_cap == 0 || u.split.test.histories[r].size() <= u.history_cap);
  });
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes.substr(b + 1));
    exercise(md::read_inter_sequences(in, "fuzz.inter", o));
  });
#elif defined(METAREC_FUZZ_TEXT)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes);
    const md::ItemText t = md::read_item_text(in, "fuzz.text", o);
    require(t.ids.size() == t.texts.size());
  });
  try {
    std::istringstream in(bytes);
    (void)md::read_item2index(in, "fuzz.item2index");
  } catch (const metarec::Error&) {
  }
#elif defined(METAREC_FUZZ_ATTRIBUTES)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes);
    const md::AttributeMap m = md::read_attribute_map(in, "fuzz.json", o);
    require(m.keys.size() == m.values.size());
    md::Domain d;
    d.name = "fuzz";
    d.n_items = 3;
    d.item_names = {"<pad>", "1", "2", "3"};
    (void)md::align_attributes(m, d, {true});
  });
#elif defined(METAREC_FUZZ_NPY)
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes, std::ios::in | std::ios::binary);
    const md::FeatureMatrix f = md::read_npy_features(in, "fuzz.npy", -1, o);
    require(f.values.rank() == 2);
    for (float v : f.values) require(v == v);  // no NaN survives
  });
#elif defined(METAREC_FUZZ_FEAT)
  if (size == 0) return 0;
  const std::int64_t dim = 1 + data[0] % 16;
  both_modes([&](const md::ReadOptions& o) {
    std::istringstream in(bytes.substr(1), std::ios::in | std::ios::binary);
    const md::FeatureMatrix f = md::read_feat_file(in, "fuzz.feat", -1, dim, o);
    require(f.values.cols() == dim);
  });
#else
#error "define one METAREC_FUZZ_<NAME>"
#endif
  return 0;
}
