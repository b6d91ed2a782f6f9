#include "config_file.hpp"

#include <algorithm>
#include <fstream>

#include "metarec/core/error.hpp"

namespace metarec::cli {

namespace {
bool is_flag(const CLI::Option& o) { return o.get_expected_max() == 0; }  // add_flag: expected(0)
bool is_multi(const CLI::Option& o) { return o.get_items_expected_max() > 1; }

/// A config value as the text of one option value.
std::string scalar_text(const json& v, const std::string& where, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  throw ConfigError(where + ": key '" + key + "' must be a number or a string, not " + std::string(v.type_name()));
}

/// An option value as JSON: a number when the text is one, else the text.
json value_json(const std::string& text) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return !v.is_discarded() && v.is_number() ? v : json(text);
}

std::string key_for_option(std::string name) {
  name.erase(0, name.find_first_not_of('-'));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::vector<std::string> g_invocation;
}  // namespace

void add_config_option(CLI::App& cmd) {
  cmd.add_option("--config", "JSON file with any of these options, e.g. {\"layers\": 1, \"dropout\": 0.2} "
                             "(keys: option names without dashes; the command line wins)");  // expanded in main()
}

json read_json_object(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open config file '" + path + "'");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw ParseError(path, 0, "json", e.what());
  }
  if (!j.is_object()) throw ParseError(path, 1, "json", "the file must hold a JSON object");
  return j;
}

std::string option_for_key(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::vector<std::string> config_args(const CLI::App& cmd, const json& values, const std::string& where) {
  std::vector<std::string> args;
  for (const auto& [key, value] : values.items()) {
    const std::string flag = option_for_key(key);
    const CLI::Option* o = flag == "--config" || flag == "--help" ? nullptr : cmd.get_option_no_throw(flag);
    if (!o)
      throw ConfigError(where + ": unknown key '" + key + "' (`metarec " + cmd.get_name() + "` has no option " + flag +
                        ")");
    if (is_flag(*o)) {
      if (!value.is_boolean())
        throw ConfigError(where + ": key '" + key + "' is a flag: true or false, not " + std::string(value.type_name()));
      args.push_back(flag + (value.get<bool>() ? "=true" : "=false"));
    } else if (value.is_array()) {
      if (!is_multi(*o))
        throw ConfigError(where + ": key '" + key + "' takes one value, not a list");
      std::string joined;  // the multi-valued options split at ',' (--ks)
      for (const auto& v : value) joined += (joined.empty() ? "" : ",") + scalar_text(v, where, key);
      args.push_back(flag + "=" + joined);
    } else {
      args.push_back(flag + "=" + scalar_text(value, where, key));
    }
  }
  return args;
}

json given_options(const CLI::App& cmd, const std::vector<std::string>& args, const std::vector<std::string>& skip) {
  json out = json::object();
  auto start = std::find(args.begin(), args.end(), cmd.get_name());
  if (start == args.end()) return out;
  for (auto it = start + 1; it != args.end(); ++it) {
    if (it->rfind("--", 0) != 0) continue;
    const std::size_t eq = it->find('=');
    const std::string name = it->substr(0, eq);
    const CLI::Option* o = cmd.get_option_no_throw(name);
    if (!o || std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    std::vector<std::string> texts;
    if (eq != std::string::npos) texts.push_back(it->substr(eq + 1));
    else if (!is_flag(*o))
      while (it + 1 != args.end() && (it + 1)->rfind("--", 0) != 0 && (texts.empty() || is_multi(*o)))
        texts.push_back(*++it);
    const std::string key = key_for_option(name);
    if (is_flag(*o)) {
      out[key] = texts.empty() || CLI::detail::to_flag_value(texts[0]) > 0;
    } else if (is_multi(*o)) {
      json list = json::array();
      for (const auto& t : texts)
        for (const auto& part : CLI::detail::split(t, ','))
          if (!part.empty()) list.push_back(value_json(part));
      out[key] = list;
    } else if (!texts.empty()) {
      out[key] = value_json(texts.back());
    }
  }
  return out;
}

std::vector<std::string> expand_config(const CLI::App& app, std::vector<std::string> args,
                                       std::map<std::string, std::string>& origin) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string path;
    std::size_t n = 0;  // tokens of the --config option
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1], n = 2;
    else if (args[i].rfind("--config=", 0) == 0) path = args[i].substr(9), n = 1;
    if (n == 0) continue;
    const CLI::App* cmd = nullptr;
    for (std::size_t s = 1; s < i && !cmd; ++s)
      for (const CLI::App* sub : app.get_subcommands({}))
        if (sub->get_name() == args[s]) cmd = sub;
    if (!cmd || !cmd->get_option_no_throw("--config"))
      throw ConfigError("--config: give it after a command that reads config files (train, tune)");
    const json values = read_json_object(path);
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + n));
    const std::vector<std::string> typed = args;
    for (const std::string& a : config_args(*cmd, values, "config file '" + path + "'")) {
      const std::string flag = a.substr(0, a.find('='));
      const bool given = std::any_of(typed.begin(), typed.end(),
                                     [&](const std::string& t) { return t == flag || t.rfind(flag + "=", 0) == 0; });
      if (given) continue;  // the command line wins
      args.push_back(a);
      origin[flag] = path;
    }
    break;
  }
  return args;
}

const std::vector<std::string>& invocation() { return g_invocation; }
void set_invocation(std::vector<std::string> args) { g_invocation = std::move(args); }

}  // namespace metarec::cli
