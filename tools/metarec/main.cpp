// metarec: command-line front end of the toolkit.
//   metarec train | tune | evaluate | recommend | stats | ...  (--help on each)
// Errors: one line on stderr; exit 2 for bad arguments, 1 for failed runs.
#include <fmt/core.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "commands.hpp"
#include "config_file.hpp"
#include "metarec/core/error.hpp"

namespace {

/// The message, with the config file named when it is about an option that came from one.
std::string with_origin(const std::string& what, const std::map<std::string, std::string>& origin) {
  auto names = [&](const std::string& word) {  // `word` in `what`, not as part of a longer name
    for (std::size_t at = what.find(word); at != std::string::npos; at = what.find(word, at + 1)) {
      const std::size_t after = at + word.size();
      const auto part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; };
      if ((at == 0 || !part(what[at - 1]) || word[0] == '-') && (after == what.size() || !part(what[after])))
        return true;
    }
    return false;
  };
  for (const auto& [flag, path] : origin) {
    std::string field = flag.substr(2);  // validate() names the field: "layers = 0 is out of range"
    for (char& c : field)
      if (c == '-') c = '_';
    if (names(flag) || names(field + " ="))
      return what + " (" + flag + " is set in config file '" + path + "')";
  }
  return what;
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
  metarec::cli::setup_tune(app);
  std::vector<std::string> args;
  std::map<std::string, std::string> origin;  // options that came from a config file -> the file
  try {
    args = metarec::cli::expand_config(app, std::vector<std::string>(argv, argv + argc), origin);
  } catch (const metarec::Error& e) {
    fmt::print(stderr, "metarec: error: {}\n", e.what());
    return 2;
  }
  metarec::cli::set_invocation(args);
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
    fmt::print(stderr, "metarec: error: {}\n", with_origin(e.what(), origin));
    return 2;
  } catch (const metarec::ConfigError& e) {
    fmt::print(stderr, "metarec: error: {}\n", with_origin(e.what(), origin));
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
