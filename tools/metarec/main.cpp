// metarec: command-line front end of the toolkit.
//   metarec train | evaluate | recommend | stats  (--help on each)
// Errors: one line on stderr; exit 2 for bad arguments, 1 for failed runs.
#include <fmt/core.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "metarec/core/error.hpp"

namespace {

/// `--config FILE` (JSON object): every key becomes `--key value` unless the
/// command line already gives `--key` (the command line wins).
std::vector<std::string> expand_config(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::size_t i = 1; i + 1 < args.size(); ++i) {
    if (args[i] != "--config") continue;
    const std::string path = args[i + 1];
    std::ifstream in(path);
    if (!in) throw metarec::IoError("cannot open config file '" + path + "'");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw metarec::ParseError(path, 0, "json", e.what());
    }
    if (!j.is_object()) throw metarec::ParseError(path, 1, "json", "the config must be a JSON object");
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
    for (auto& [key, value] : j.items()) {
      const std::string flag = "--" + key;
      bool given = false;
      for (auto& a : args) given = given || a == flag || a.rfind(flag + "=", 0) == 0;
      if (given) continue;
      if (value.is_boolean()) {
        if (value.get<bool>()) args.push_back(flag);
      } else if (value.is_array()) {
        std::string joined;
        for (auto& v : value) joined += (joined.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : v.dump());
        args.push_back(flag);
        args.push_back(joined);
      } else {
        args.push_back(flag);
        args.push_back(value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    break;
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"metarec: transferable sequential recommendation (SASRec, GRU4Rec, BERT4Rec, MetaRec, MISSRec)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  metarec::cli::setup_train(app);
  metarec::cli::setup_stats(app);
  metarec::cli::setup_evaluate(app);
  metarec::cli::setup_recommend(app);
  metarec::cli::setup_transfer(app);
  metarec::cli::setup_missrec(app);
  metarec::cli::setup_featurize(app);
  std::vector<std::string> args;
  try {
    args = expand_config(argc, argv);
  } catch (const metarec::Error& e) {
    fmt::print(stderr, "metarec: error: {}\n", e.what());
    return 2;
  }
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "metarec: error: {}\n", e.what());
    return 2;
  } catch (const metarec::ConfigError& e) {
    fmt::print(stderr, "metarec: error: {}\n", e.what());
    return 2;
  } catch (const metarec::Error& e) {
    fmt::print(stderr, "metarec: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "metarec: internal error: {}\n", e.what());
    return 1;
  }
  return 0;
}
