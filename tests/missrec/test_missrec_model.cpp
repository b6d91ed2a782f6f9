#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "metarec/data/features.hpp"
#include "metarec/data/split.hpp"
#include "metarec/multimodal/missrec_train.hpp"
#include "missrec/missrec_fixtures.hpp"

using namespace metarec;
using namespace metarec::multimodal;
using namespace missrec_test;

TEST_CASE("interest sets: de-duplicated per row and per prefix, missing tokens skipped") {
  Tape<float> t;
  // Two modalities, items 1..4. Interest ids (0 = missing token).
  Tensor<float> lookup({2, 5});
  const float ids[2][5] = {{0, 1, 2, 1, 3}, {0, 2, 0, 4, 4}};
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 5; ++i) lookup[m * 5 + i] = ids[m][i];
  std::vector<std::int32_t> items{0, 1, 3, 2, /*row 2*/ 4, 4, 4, 4};
  std::vector<std::uint8_t> mask{0, 1, 1, 1, 1, 1, 1, 1};
  std::vector<std::int32_t> targets{0, 3, 2, 4, 4, 0, 0, 1};
  InterestIndex index;
  index.reserve(4);
  const SequenceView s{2, 4, items.data(), mask.data()};
  InterestSamples rows = index.build(t, s, targets.data(), false, lookup);
  REQUIRE(rows.n == 2);
  // Row 0: item 1 -> {1, 2}, item 3 -> {1, 4}, item 2 -> {2} (modality 1 missing): {1, 2, 4}
  CHECK(rows.offsets[1] == 3);
  CHECK(std::vector<std::int32_t>(rows.ids, rows.ids + 3) == std::vector<std::int32_t>{1, 2, 4});
  // Row 1: item 4 four times -> {3, 4}
  CHECK(rows.offsets[2] - rows.offsets[1] == 2);
  CHECK(rows.query_row[0] == 3);
  CHECK(rows.query_row[1] == 7);
  CHECK(rows.targets[0] == 4);
  InterestSamples pre = index.build(t, s, targets.data(), true, lookup);
  REQUIRE(pre.n == 5);  // row 0: positions 1, 2, 3; row 1: positions 0 and 3
  CHECK(pre.offsets[1] - pre.offsets[0] == 2);  // prefix [1]: {1, 2}
  CHECK(pre.offsets[2] - pre.offsets[1] == 3);  // prefix [1, 3]: {1, 2, 4}
  CHECK(pre.offsets[3] - pre.offsets[2] == 3);  // prefix [1, 3, 2]: unchanged
  CHECK(pre.targets[3] == 4);
  CHECK(pre.query_row[4] == 7);
}

TEST_CASE("one pass over all prefixes equals encoding each prefix on its own") {
  Rng rng(11);
  auto cfg = small_config({5, 3});
  MISSRecType<double> model(cfg, 3);
  model.add_domain("A", 6, {features(6, 5, rng), features(6, 3, rng)});
  model.discover_interests(0, 1);
  Tape<double> t;
  t.set_training(false);
  std::vector<std::int32_t> items{0, 2, 5, 1, 3, 4, 6, 6};
  std::vector<std::uint8_t> mask{0, 1, 1, 1, 1, 1, 1, 1};
  std::vector<std::int32_t> targets{0, 5, 1, 3, 4, 6, 6, 2};
  auto it = model.items(t, 0);
  auto all = model.encode(t, 0, it, SequenceView{2, 4, items.data(), mask.data()}, targets.data(), true);
  REQUIRE(all.samples.n == 7);
  for (index_t i = 0; i < all.samples.n; ++i) {
    const index_t row = all.samples.query_row[i] / 4, col = all.samples.query_row[i] % 4;
    std::vector<std::int32_t> pitems;
    for (index_t j = 0; j <= col; ++j)
      if (mask[static_cast<std::size_t>(row * 4 + j)]) pitems.push_back(items[static_cast<std::size_t>(row * 4 + j)]);
    std::vector<std::uint8_t> pmask(pitems.size(), 1);
    auto one = model.encode(t, 0, it, SequenceView{1, static_cast<index_t>(pitems.size()), pitems.data(), pmask.data()},
                            nullptr, false);
    for (index_t j = 0; j < 8; ++j) CHECK(all.u.value()[i * 8 + j] == doctest::Approx(one.u.value()[j]).epsilon(1e-10));
  }
}

TEST_CASE("fused scores: evaluator's scorer matches the training logits; transductive mix") {
  Rng rng(12);
  for (bool transductive : {false, true}) {
    auto cfg = small_config({4, 6});
    cfg.transductive = transductive;
    MISSRecType<double> model(cfg, 5);
    auto f0 = features(5, 4, rng);
    for (index_t j = 0; j < 4; ++j) f0[3 * 4 + j] = 0;  // item 3 has no modality-0 token
    model.add_domain("A", 5, {f0, features(5, 6, rng)});
    CHECK(model.domain(0).present[3] == 0);
    CHECK(model.domain(0).tokens == 9);
    model.beta().value[0] = 1.7;
    model.discover_interests(0, 2);
    Tape<double> t;
    std::vector<std::int32_t> h1{1, 2}, h2{4};
    std::vector<std::span<const std::int32_t>> hs{h1, h2};
    Tensor<double> U({2, 8});
    model.user_representations(t, 0, hs, U);
    // An item outside the domain is an error, not a read past the feature table.
    std::vector<std::int32_t> bad{1, 6};
    std::vector<std::span<const std::int32_t>> with_bad{h1, bad};
    CHECK_THROWS_AS(model.user_representations(t, 0, with_bad, U), ShapeError);
    model.user_representations(t, 0, hs, U);
    auto [Z, ID] = model.scoring_tables(t, 0);
    // train::evaluate (and so train::fit) ranks MISSRec with this scorer, not a dot product.
    static_assert(contract::HasCustomScorer<MISSRecType<double>>);
    FusedScorer<double> scorer(U, Z, ID, model.domain(0).present.data(), 1.7);
    std::vector<double> out(2 * 6);
    std::vector<double> via_hook(2 * 6);
    model.make_scorer(t, 0, U)(std::vector<std::int32_t>{0, 1}, via_hook.data(), 6);
    std::vector<std::int32_t> users{0, 1};
    scorer(users, out.data(), 6);
    for (std::size_t e = 1; e < out.size(); ++e)
      if (e % 6 != 0) CHECK(via_hook[e] == doctest::Approx(out[e]).epsilon(1e-12));
    // Reference: the training path (fused_logits * temperature) on the same u.
    Tape<double> t2;
    std::vector<Var<double>> cand;
    for (auto& z : Z) cand.push_back(ops::slice(t2.leaf(z), 0, 1, 6));
    Var<double> idc = transductive ? ops::slice(t2.leaf(ID), 0, 1, 6) : Var<double>{};
    auto logits = model.fused_logits(t2.leaf(U), cand, model.domain(0).present.data() + 1, 6, idc).value();
    for (index_t i = 0; i < 2; ++i)
      for (index_t c = 0; c < 5; ++c)
        CHECK(out[static_cast<std::size_t>(i * 6 + c + 1)] == doctest::Approx(logits[i * 5 + c] * 0.07).epsilon(1e-9));
    // Item 3 lacks modality 0: its fused score is its modality-1 score alone (inductive).
    if (!transductive) {
      double s1 = 0;
      for (index_t j = 0; j < 8; ++j) s1 += U[j] * Z[1][3 * 8 + j];
      CHECK(out[3] == doctest::Approx(s1));
    }
  }
}

TEST_CASE("pre-training on two synthetic domains lowers the loss") {
  bool prefixes = false;
  SUBCASE("one sample per sequence") { prefixes = false; }
  SUBCASE("one sample per prefix") { prefixes = true; }
  CAPTURE(prefixes);
  Rng rng(13);
  auto cfg = small_config({6}, prefixes);
  cfg.dropout = cfg.attn_dropout = 0.0;
  cfg.interest_ratio = 0.3;
  MISSRec model(cfg, 7);
  auto a = ring_split("A", 12, 40, rng), b = ring_split("B", 9, 40, rng);
  const int ka = model.add_domain("A", 12, {features(12, 6, rng)});
  const int kb = model.add_domain("B", 9, {features(9, 6, rng)});
  PretrainConfig pc;
  pc.epochs = 30;
  pc.batch_size = 16;
  pc.lr = 5e-3;
  auto hist = pretrain(model, {&a, &b}, {ka, kb}, pc, [](const PretrainEpoch&) {});
  REQUIRE(hist.size() == 30);
  const double first = (hist[0].loss + hist[1].loss) / 2, last = (hist[28].loss + hist[29].loss) / 2;
  MESSAGE("pre-training loss, prefixes " << prefixes << ": " << first << " -> " << last);
  CHECK_MESSAGE(last < 0.8 * first, "first " << first << " last " << last);
  CHECK(hist.back().seq_seq > 0);
  CHECK(hist.back().diversity > 0);
}

TEST_CASE("pre-training loss: distinct in-batch candidates, prefix samples, rows without targets") {
  Rng rng(15);
  auto cfg = small_config({6, 4});
  cfg.dropout = cfg.attn_dropout = 0.0;
  MISSRec model(cfg, 3);
  model.add_domain("A", 9, {features(9, 6, rng), features(9, 4, rng)});
  model.discover_interests(0, 2);
  // Sequence-item term of `m`'s pre-training loss on one batch (mask = items > 0), lambda = gamma = 0.
  auto seq_item_of = [](MISSRec& m, std::vector<std::int32_t> items, std::vector<std::int32_t> targets, index_t B,
                        index_t L) {
    std::vector<std::uint8_t> mask(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) mask[i] = items[i] > 0;
    Tape<float> t;
    TrainInputs in{SequenceView{B, L, items.data(), mask.data()}, targets.data(), nullptr};
    PretrainTerms terms;
    auto l = m.pretrain_loss(t, 0, in, 0.0, 0.0, 1.0, &terms);
    CHECK(std::isfinite(l.value()[0]));
    return terms.seq_item;
  };
  auto seq_item = [&](std::vector<std::int32_t> items, std::vector<std::int32_t> targets, index_t B, index_t L) {
    return seq_item_of(model, std::move(items), std::move(targets), B, L);
  };
  // Two sequences with the same target: one candidate, so nothing to contrast (an in-batch
  // softmax over duplicated targets would give log 2).
  CHECK(seq_item({0, 1, 2, 0, 4, 5}, {0, 0, 3, 0, 0, 3}, 2, 3) == doctest::Approx(0.0).epsilon(1e-6));
  // One target per sequence: prefix samples and sequence ends are the same samples.
  const double with_prefixes = seq_item({1, 2, 4, 5, 6, 7}, {2, 0, 5, 0, 7, 0}, 3, 2);
  CHECK(with_prefixes > 0.1);
  {  // the same three samples, as sequence ends of left-padded one-item rows (positions count from the first real item)
    auto c2 = cfg;
    c2.prefix_samples = false;
    MISSRec ends(c2, 3);
    Rng r2(15);
    ends.add_domain("A", 9, {features(9, 6, r2), features(9, 4, r2)});
    ends.discover_interests(0, 2);
    CHECK(seq_item_of(ends, {0, 1, 0, 4, 0, 6}, {0, 2, 0, 5, 0, 7}, 3, 2) == doctest::Approx(with_prefixes).epsilon(1e-5));
  }
  // Prefix samples: three targets in one sequence, all scored.
  CHECK(seq_item({1, 2, 3}, {2, 3, 4}, 1, 3) > 0.1);
  // A row without any target is an error that names the row.
  CHECK_THROWS_WITH_AS(seq_item({1, 2, 3, 4}, {2, 3, 0, 0}, 2, 2), doctest::Contains("sequence 1"), ShapeError);
}

TEST_CASE("checkpoint: pre-train -> fine-tune on a domain with a different item set") {
  Rng rng(14);
  auto cfg = small_config({6, 4});
  MISSRec pre(cfg, 8);
  pre.add_domain("Games", 11, {features(11, 6, rng), features(11, 4, rng)});
  pre.beta().value[0] = 0.25f;
  pre.discover_interests(0, 3);
  const std::string path = (std::filesystem::temp_directory_path() / "missrec_test.ckpt").string();
  save_checkpoint(path, train::model_checkpoint(pre));
  Checkpoint ck = load_checkpoint(path);
  std::filesystem::remove(path);
  // Target: other item count, transductive, and a different image width (adaptor1 cannot carry over).
  auto tcfg = small_config({6, 5});
  tcfg.transductive = true;
  MISSRec ft(tcfg, 9);
  ft.add_domain("Scientific", 7, {features(7, 6, rng), features(7, 5, rng)});
  CarryReport rep = load_missrec_pretrained(ft, ck);
  CHECK(ft.beta().value[0] == 0.25f);
  for (const char* name : {"decoder.layer0.cross.q.weight", "encoder.block0.ln1.weight", "pos.weight", "adaptor0.weight"})
    CHECK(ft.parameters().at(name).value[3] == pre.parameters().at(name).value[3]);
  REQUIRE(rep.skipped.size() == 2);  // adaptor1.weight and .bias
  CHECK(rep.skipped[0].find("adaptor1.weight") == 0);
  for (const auto& n : rep.loaded) CHECK(n.rfind("items.", 0) != 0);
  {  // carry_adaptors = false: every adaptor keeps its initialisation, the rest still loads
    MISSRec fresh(tcfg, 9), init(tcfg, 9);
    Rng r(1);
    fresh.add_domain("Scientific", 7, {features(7, 6, r), features(7, 5, r)});
    init.add_domain("Scientific", 7, {features(7, 6, r), features(7, 5, r)});
    CarryReport fr = load_missrec_pretrained(fresh, ck, false);
    CHECK(fr.skipped.size() == 4);
    CHECK(fresh.parameters().at("adaptor0.weight").value[3] == init.parameters().at("adaptor0.weight").value[3]);
    CHECK(fresh.parameters().at("adaptor0.weight").value[3] != pre.parameters().at("adaptor0.weight").value[3]);
    CHECK(fresh.parameters().at("pos.weight").value[3] == pre.parameters().at("pos.weight").value[3]);
  }
  // A checkpoint from another width fails, naming the tensor.
  auto wcfg = small_config({6, 4});
  wcfg.d = 12;
  MISSRec wide(wcfg, 1);
  wide.add_domain("X", 3, {features(3, 6, rng), features(3, 4, rng)});
  CHECK_THROWS_WITH_AS(load_missrec_pretrained(wide, ck), doctest::Contains("pos.weight"), CheckpointError);
  // The loaded model fine-tunes: one step of the full-softmax loss is finite.
  ft.discover_interests(0, 1);
  Tape<float> t;
  std::vector<std::int32_t> items{1, 2, 3}, targets{2, 3, 4};
  std::vector<std::uint8_t> mask{1, 1, 1};
  TrainInputs in{SequenceView{1, 3, items.data(), mask.data()}, targets.data(), nullptr};
  auto l = ft.loss(t, 0, in);
  CHECK(std::isfinite(l.value()[0]));
  t.backward(l);
  CHECK(ft.parameters().at("items.Scientific.id.weight").grad[8 * 2] != 0.0f);
}

TEST_CASE("fine-tuning through train::fit: parameter-efficient and full, fused evaluation") {
  Rng rng(15);
  auto a = ring_split("S", 10, 60, rng);
  for (bool peft : {true, false}) {
    auto cfg = small_config({6, 3});
    MISSRec model(cfg, 4);
    const int k = model.add_domain("S", 10, {features(10, 6, rng), features(10, 3, rng)});
    const float enc_before = model.parameters().at("encoder.block0.attn.q.weight").value[0];
    const float ad_before = model.parameters().at("adaptor0.weight").value[0];
    train::TrainerConfig tc;
    tc.epochs = 3;
    tc.batch_size = 16;
    tc.patience = 0;
    auto r = finetune(model, k, a, tc, peft);
    CHECK(r.epochs_run == 3);
    CHECK(std::isfinite(r.test["NDCG@10"]));
    CHECK(r.test["HR@50"] == doctest::Approx(1.0));  // 10 items: every target is in the top 50
    CHECK((model.parameters().at("encoder.block0.attn.q.weight").value[0] == enc_before) == peft);
    CHECK(model.parameters().at("adaptor0.weight").value[0] != ad_before);
  }
}

TEST_CASE("bad input: feature rows, non-finite values, interest_ratio, empty modalities") {
  Rng rng(16);
  auto cfg = small_config({4});
  MISSRec model(cfg, 1);
  CHECK_THROWS_WITH_AS(model.add_domain("A", 5, {features(4, 4, rng)}), doctest::Contains("expected [6, 4]"), ShapeError);
  CHECK_THROWS_AS(model.add_domain("A", 5, {features(5, 3, rng)}), ShapeError);
  CHECK_THROWS_AS(model.add_domain("A", 5, {features(5, 4, rng), features(5, 4, rng)}), ConfigError);
  auto nan = features(5, 4, rng);
  nan[2 * 4 + 1] = std::nanf("");
  CHECK_THROWS_WITH_AS(model.add_domain("A", 5, {nan}), doctest::Contains("row 2"), NumericError);
  CHECK_THROWS_WITH_AS(model.add_domain("A", 5, {Tensor<float>({6, 4})}), doctest::Contains("no item has any modality"),
                       ConfigError);
  // An explicit mask marks item 2 missing even though its row is nonzero.
  std::vector<std::vector<std::uint8_t>> present{{0, 1, 0, 1, 1, 1}};
  model.add_domain("A", 5, {features(5, 4, rng)}, present);
  CHECK(model.domain(0).tokens == 4);
  CHECK(model.domain(0).interests == 2);  // ceil(0.5 * 4)
  CHECK_THROWS_AS(model.add_domain("A", 5, {features(5, 4, rng)}), ConfigError);  // attached twice
  for (double ratio : {0.0, -0.1, 1.5}) {
    auto bad = cfg;
    bad.interest_ratio = ratio;
    CHECK_THROWS_WITH_AS(MISSRec(bad, 1), doctest::Contains("interest_ratio"), ConfigError);
  }
  auto deep = cfg;
  deep.decoder_layers = 2;
  CHECK_THROWS_AS(MISSRec(deep, 1), ConfigError);  // prefix samples need one decoder layer
  deep.prefix_samples = false;
  CHECK_NOTHROW(MISSRec(deep, 1));
  // A NaN row read leniently becomes a zero row = a missing modality.
  std::ostringstream npy;
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  std::string padded = header + std::string(total - 10 - header.size() - 1, ' ') + "\n";
  npy << "\x93NUMPY" << char(1) << char(0) << char(padded.size() & 0xff) << char(padded.size() >> 8) << padded;
  const float vals[6] = {1, 2, std::nanf(""), 0.5f, 3, 4};
  npy.write(reinterpret_cast<const char*>(vals), sizeof vals);
  std::istringstream in1(npy.str());
  CHECK_THROWS_AS(data::read_npy_features(in1, "f.npy", 3), ParseError);
  std::istringstream in2(npy.str());
  data::ReadOptions lenient;
  lenient.lenient = true;
  auto fm = data::read_npy_features(in2, "f.npy", 3, lenient);
  auto c2 = small_config({2});
  MISSRec m2(c2, 1);
  m2.add_domain("B", 3, {fm.values});
  CHECK(m2.domain(0).present == std::vector<std::uint8_t>{0, 1, 0, 1});
}
