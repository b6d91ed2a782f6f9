#pragma once
// Command-line options, JSON records and checkpoint configs generated from
// each policy's own Config::visit() (model/policy_config.hpp): the tool
// knows no policy's fields. Every flag any registered policy declares becomes
// one option (policies may share a flag, e.g. --layers for SASRec, BERT4Rec
// and GRU4Rec); after parsing, apply() writes the values given on the
// command line into the chosen policies' Configs, and each Config's
// validate() then checks their ranges.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>
#include <string>
#include <type_traits>

#include "metarec/core/error.hpp"

namespace metarec::cli {

class PolicyOptions {
 public:
  /// Adds the options of Config's fields that no earlier Config declared (the first declaration's help and
  /// default are shown).
  template <class Config>
  void declare(CLI::App& app) {
    Config defaults;
    defaults.visit([&]<class F>(const char* key, F& field, const char* help, const char* flag = nullptr) {
      const std::string name = flag_name(key, flag);
      if (slots_.contains(name)) return;
      Slot& s = slots_[name];
      if constexpr (std::is_same_v<F, bool>) {
        s.option = app.add_flag(name, s.flag, help);
      } else {
        std::ostringstream d;
        d << field;
        s.option = app.add_option(name, s.text, help)
                       ->default_str(d.str())
                       ->type_name(std::is_integral_v<F> ? "INT" : "FLOAT");
      }
    });
  }

  /// The fields of `c` whose flag was given (on the command line or in --config) take the given value.
  template <class Config>
  void apply(Config& c) const {
    c.visit([&]<class F>(const char* key, F& field, const char*, const char* flag = nullptr) {
      const std::string name = flag_name(key, flag);
      const auto it = slots_.find(name);
      if (it == slots_.end() || !it->second.option || it->second.option->count() == 0) return;
      if constexpr (std::is_same_v<F, bool>) {
        field = it->second.flag;
      } else {
        std::istringstream in(it->second.text);
        F v{};
        if (!(in >> v) || !(in >> std::ws).eof())
          throw ConfigError(name + ": '" + it->second.text + "' is not a valid value");
        field = v;
      }
    });
  }

 private:
  static std::string flag_name(const char* key, const char* flag) {
    if (flag) return flag;
    std::string s = std::string("--") + key;
    for (char& ch : s)
      if (ch == '_') ch = '-';
    return s;
  }
  struct Slot {
    std::string text;
    bool flag = false;
    CLI::Option* option = nullptr;
  };
  std::map<std::string, Slot> slots_;  // node-based: CLI11 keeps pointers to text and flag
};

/// Options bound directly to the fields of `c` (one fixed Config, no policy choice); ranges are checked
/// by c.validate() after parsing.
template <class Config>
void bind_options(CLI::App& app, Config& c) {
  c.visit([&]<class F>(const char* key, F& field, const char* help, const char* flag = nullptr) {
    std::string name = flag ? std::string(flag) : std::string("--") + key;
    if (!flag)
      for (char& ch : name)
        if (ch == '_') ch = '-';
    if constexpr (std::is_same_v<F, bool>) app.add_flag(name, field, help);
    else app.add_option(name, field, help)->capture_default_str();
  });
}

/// A policy Config as a JSON object (keys = its visit() keys).
template <class Config>
nlohmann::json config_to_json(Config c) {
  nlohmann::json j = nlohmann::json::object();
  c.visit([&](const char* key, auto& field, const char*, const char* = nullptr) { j[key] = field; });
  return j;
}

/// Reads the keys of `j` that Config declares; keys it lacks keep their defaults (older records).
template <class Config>
void config_from_json(const nlohmann::json& j, Config& c) {
  if (!j.is_object()) return;
  c.visit([&](const char* key, auto& field, const char*, const char* = nullptr) {
    if (j.contains(key)) field = j.at(key).template get<std::remove_reference_t<decltype(field)>>();
  });
}

}  // namespace metarec::cli
