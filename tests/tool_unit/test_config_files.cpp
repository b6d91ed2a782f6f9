// Unit tests of the tool's configuration plumbing (tools/metarec): checkpoint configs written before a
// backbone setting existed load with the old behaviour, and config files map to options and back.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "common.hpp"
#include "config_file.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/sasrec.hpp"

using namespace metarec;
using cli::json;

TEST_CASE_TEMPLATE("a checkpoint config without norm_first / final_norm loads as post-LN without a final norm", Policy,
                   backbones::SASRec, backbones::BERT4Rec) {
  using M = Recommender<Policy>;
  // As model_config_json wrote it before the settings existed.
  const json old = json::parse(R"({"d": 16, "max_len": 10, "init_std": 0.02, "quantizer": {},
      "backbone": {"layers": 1, "heads": 2, "inner": 32, "dropout": 0.5, "attn_dropout": 0.5, "ln_eps": 1e-12}})");
  typename M::Config c = cli::model_config_from_json<M>(old);
  CHECK_FALSE(c.backbone.norm_first);
  CHECK_FALSE(c.backbone.final_norm);
  CHECK(c.backbone.layers == 1);
  // Its parameters are the ones such a checkpoint holds: no final LayerNorm.
  M model(c, 1);
  std::vector<std::string> names;
  for (auto* p : model.parameters().all()) names.push_back(p->name);
  typename M::Config plain;
  plain.model.d = 16, plain.model.max_len = 10;
  plain.backbone.layers = 1, plain.backbone.inner = 32;
  M reference(plain, 1);
  std::vector<std::string> ref_names;
  for (auto* p : reference.parameters().all()) ref_names.push_back(p->name);
  CHECK(names == ref_names);
  // Written now, the settings are recorded and read back.
  c.backbone.norm_first = c.backbone.final_norm = true;
  const json now = cli::model_config_json<M>(c);
  CHECK(now["backbone"]["norm_first"] == true);
  const typename M::Config back = cli::model_config_from_json<M>(now);
  CHECK(back.backbone.norm_first);
  CHECK(back.backbone.final_norm);
  CHECK(M(back, 1).parameters().find("backbone.final_ln.weight") != nullptr);
}

namespace {
enum class Kind { a, b };
struct Options {
  int layers = 2;
  double lr = 1e-3;
  bool flag = false;
  Kind kind = Kind::a;
  std::vector<int> ks{5, 10};
  std::string name;
};
void declare(CLI::App& app, Options& o) {
  app.add_option("--layers", o.layers);
  app.add_option("--lr", o.lr);
  app.add_flag("--mask-history", o.flag);
  app.add_option("--kind", o.kind)->transform(CLI::CheckedTransformer(std::map<std::string, Kind>{{"a", Kind::a}, {"b", Kind::b}}));
  app.add_option("--ks", o.ks)->delimiter(',');
  app.add_option("--out", o.name);
}
}  // namespace

TEST_CASE("config files: keys map to options, and the options given map back to a config") {
  CLI::App app{"test"};
  CLI::App* cmd = app.add_subcommand("train");
  Options o;
  declare(*cmd, o);
  const json cfg = json::parse(R"({"layers": 1, "lr": 0.0005, "mask_history": true, "kind": "b", "ks": [5, 20]})");
  std::vector<std::string> args{"metarec", "train", "--out", "x"};
  for (const std::string& a : cli::config_args(*cmd, cfg, "f.json")) args.push_back(a);
  std::vector<std::string> rev(args.rbegin(), args.rend() - 1);
  app.parse(rev);
  CHECK(o.layers == 1);
  CHECK(o.lr == 0.0005);
  CHECK(o.flag);
  CHECK(o.kind == Kind::b);
  CHECK(o.ks == std::vector<int>{5, 20});
  // given_options reads what was typed (the enum by name, not CLI11's transformed number), without --out.
  const json back = cli::given_options(*cmd, args, {"--out"});
  CHECK(back == cfg);
  // Typed forms: separate values, --x=v, a flag with a value.
  const json typed = cli::given_options(*cmd, {"metarec", "train", "--layers", "3", "--ks", "1,2", "--mask-history=false",
                                               "--kind=a"}, {});
  CHECK(typed == json::parse(R"({"layers": 3, "ks": [1, 2], "mask_history": false, "kind": "a"})"));

  auto error = [&](const char* text) {
    try {
      cli::config_args(*cmd, json::parse(text), "f.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error(R"({"layer": 1})").find("f.json: unknown key 'layer'") != std::string::npos);
  CHECK(error(R"({"layers": [1]})").find("key 'layers' takes one value") != std::string::npos);
  CHECK(error(R"({"mask-history": 1})").find("key 'mask-history' is a flag") != std::string::npos);
  CHECK(error(R"({"lr": {"x": 1}})").find("key 'lr' must be a number or a string") != std::string::npos);
  CHECK(error(R"({"config": "x.json"})").find("unknown key 'config'") != std::string::npos);
  CHECK(cli::option_for_key("max_len") == "--max-len");
}
