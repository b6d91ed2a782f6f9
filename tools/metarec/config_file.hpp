#pragma once
// Config files: `metarec train --config FILE.json` (and tune, which shares train's options). A config is a
// JSON object whose keys are option names without the leading dashes ("max_len" or "max-len" for
// --max-len); each key becomes that option on the command line, so the file goes through the same
// parsing and validation as typed options, and an option typed on the command line wins over the file.
// Why JSON through nlohmann rather than CLI11's own config support: CLI11 reads TOML/INI only (JSON needs
// a hand-written CLI::Config parser), while every record the tool writes (result.json, tune's best.json)
// is JSON already, so a run's settings can be copied into a config and a tuned config loaded as is.
#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"

namespace metarec::cli {

/// Declares `--config FILE` on a command (the file is expanded by expand_config before parsing).
void add_config_option(CLI::App& cmd);

/// Reads a JSON object from `path` (IoError when it cannot be opened, ParseError when it is not a JSON object).
json read_json_object(const std::string& path);

/// The option a config key names: "--" + key with '_' written as '-'.
std::string option_for_key(const std::string& key);

/// The arguments that give `cmd` the options of the JSON object `values` (flags: true/false; multi-valued
/// options such as --ks: a list; others: a number or a string). Throws ConfigError naming `where` and the
/// key for a key that is no option of `cmd` and for a value of the wrong JSON type.
std::vector<std::string> config_args(const CLI::App& cmd, const json& values, const std::string& where);

/// The options given to `cmd` in the argv-style `args` (after config expansion: see invocation()) as a
/// config object: keys with '_' for '-', the values as typed (numbers and booleans as JSON numbers and
/// booleans, lists for multi-valued options); the inverse of config_args. Options in `skip` (e.g.
/// "--out") are left out. Read from the arguments, not from CLI11's results, which hold the values after
/// transforms (an enum's number instead of its name).
json given_options(const CLI::App& cmd, const std::vector<std::string>& args, const std::vector<std::string>& skip);

/// The arguments the tool runs with, after config expansion (set by main()).
const std::vector<std::string>& invocation();
void set_invocation(std::vector<std::string> args);

/// Replaces `--config FILE` in argv-style `args` by the file's options (those not given on the command line),
/// for the sub-command named in args. `origin` receives option -> file for the options that came from a
/// file, so that an error about one can name the file.
std::vector<std::string> expand_config(const CLI::App& app, std::vector<std::string> args,
                                       std::map<std::string, std::string>& origin);

}  // namespace metarec::cli
