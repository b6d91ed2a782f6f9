// metarec stats FILE: users, items, interactions and the length distribution.
#include <fmt/core.h>

#include "commands.hpp"
#include "common.hpp"

namespace metarec::cli {

void setup_stats(CLI::App& app) {
  auto* cmd = app.add_subcommand("stats", "print dataset statistics (users, items, interactions, lengths)");
  auto d = std::make_shared<DataOptions>();
  cmd->add_option("file", d->path, "interaction file (or unisrec split prefix)")->required();
  cmd->add_option("--format", d->format, "s3rec|pairs|atomic|unisrec")
      ->check(CLI::IsMember({"s3rec", "pairs", "atomic", "unisrec"}))
      ->capture_default_str();
  cmd->add_flag("--lenient", d->lenient, "skip and count malformed records");
  auto json_out = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json_out, "print JSON instead of text");
  cmd->callback([d, json_out] {
    data::ReadOptions ro;
    ro.lenient = d->lenient;
    data::Domain dom;
    if (d->format == "unisrec") dom = data::read_unisrec_split(d->path, ro).domain;
    else if (d->format == "s3rec") dom = data::read_sequences(d->path, ro);
    else if (d->format == "pairs") dom = data::read_pairs(d->path, ro);
    else dom = data::read_atomic_inter(d->path, ro);
    const auto s = data::stats(dom);
    if (*json_out) {
      json j{{"name", s.name}, {"users", s.users}, {"items", s.items}, {"n_items", s.n_items},
             {"interactions", s.interactions}, {"min_length", s.min_length}, {"max_length", s.max_length},
             {"mean_length", s.mean_length}, {"median_length", s.median_length}, {"load", to_json(dom.report)}};
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}", data::format_stats(s));
      if (dom.report.skipped() > 0) fmt::print("skipped records: {}\n", dom.report.skipped());
    }
  });
}

}  // namespace metarec::cli
